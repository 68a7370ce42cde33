//! Encoding a thumbnail: JPEG for opaque pixels, PNG where there is transparency to keep.
//!
//! The encoders write pixels and the bare container (JFIF header, PNG IHDR/IDAT/IEND) only: nothing of the source's
//! metadata (EXIF with its GPS position, XMP, IPTC, ICC, comments) is ever handed to them, so none can leak.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use super::decode::{Layout, Pixels};
use super::ImageError;

/// libvips' and most CDNs' thumbnails sit between 75 and 85; at 82 photo thumbnails show no blocking at 100 %.
pub const JPEG_QUALITY: u8 = 82;

/// The content type and bytes of `pixels` encoded.
pub(super) fn encode(pixels: &Pixels) -> Result<(&'static str, Vec<u8>), ImageError> {
    let render_error = |e: &dyn std::fmt::Display| ImageError::Render { reason: format!("encode: {e}") };
    let mut bytes = Vec::new();
    match pixels.layout {
        Layout::Gray | Layout::Rgb => {
            let color = if pixels.layout == Layout::Gray {
                jpeg_encoder::ColorType::Luma
            } else {
                jpeg_encoder::ColorType::Rgb
            };
            // Thumbnails are at most MAX_SIZE (4096) on a side, well within JPEG's 65,535.
            let (width, height) = (pixels.width as u16, pixels.height as u16);
            jpeg_encoder::Encoder::new(&mut bytes, JPEG_QUALITY)
                .encode(&pixels.data, width, height, color)
                .map_err(|e| render_error(&e))?;
            Ok(("image/jpeg", bytes))
        }
        Layout::Rgba => {
            PngEncoder::new_with_quality(&mut bytes, CompressionType::Default, FilterType::Adaptive)
                .write_image(&pixels.data, pixels.width, pixels.height, ExtendedColorType::Rgba8)
                .map_err(|e| render_error(&e))?;
            Ok(("image/png", bytes))
        }
    }
}
