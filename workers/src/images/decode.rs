//! Decoding: sniff the format from the bytes, check the header's dimensions against the limits, then decode once
//! into 8-bit grey, RGB or RGBA pixels.
//!
//! JPEG goes through `jpeg-decoder`, which can scale in the DCT domain while it decodes (1/2, 1/4 or 1/8 of the
//! size: the "shrink-on-load" that makes vipsthumbnail fast); every other format through `image`, in full.

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::{ImageError, Limits};

/// JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still covers the largest thumbnail times this
/// factor; Lanczos3 then takes it the rest of the way (by less than 2×). libvips and Pillow keep a factor of 2, since
/// a DCT-domain shrink on its own is close to a block average; at 1 the thumbnails of photos look the same side by
/// side with vipsthumbnail's and a 12 MP JPEG decodes at a quarter of the pixels for the 1024 px box, which is what
/// puts this path ahead of vipsthumbnail (docs/performance.md, "Thumbnails").
const SHRINK_ON_LOAD_HEADROOM: u32 = 1;

/// How decoded pixels are laid out, one byte per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    Gray,
    Rgb,
    Rgba,
}

/// Packed rows of 8-bit pixels, no padding.
#[derive(Clone, Debug)]
pub(super) struct Pixels {
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub data: Vec<u8>,
}

impl Pixels {
    /// Drops an alpha channel that is opaque everywhere, in place: such an image is stored as JPEG, and resizing
    /// three channels is cheaper than four.
    pub(super) fn drop_opaque_alpha(&mut self) {
        if self.layout != Layout::Rgba || self.data.chunks_exact(4).any(|px| px[3] != u8::MAX) {
            return;
        }
        let pixels = self.data.len() / 4;
        for i in 0..pixels {
            self.data.copy_within(i * 4..i * 4 + 3, i * 3);
        }
        self.data.truncate(pixels * 3);
        self.layout = Layout::Rgb;
    }
}

/// One decoded image: pixels (possibly already shrunk on load), the dimensions the file declares, and the EXIF
/// orientation still to apply.
pub(super) struct Decoded {
    pub pixels: Pixels,
    pub original_width: u32,
    pub original_height: u32,
    pub orientation: Orientation,
}

/// Decodes `input` for thumbnails whose largest bounding box is `largest_box`.
pub(super) fn decode(input: &[u8], largest_box: u32, limits: &Limits) -> Result<Decoded, ImageError> {
    if input.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_jpeg(input, largest_box, limits)
    } else {
        decode_other(input, limits)
    }
}

fn decode_jpeg(input: &[u8], largest_box: u32, limits: &Limits) -> Result<Decoded, ImageError> {
    let mut decoder = jpeg_decoder::Decoder::new(input);
    // Reads the markers up to the frame header only: nothing is allocated for pixels yet.
    decoder.read_info()?;
    let info = decoder.info().ok_or_else(|| ImageError::corrupt("JPEG without a frame header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_pixels(width, height, limits)?;

    let (target_width, target_height) = super::resize::fit(width, height, largest_box);
    let wanted_width = (target_width * SHRINK_ON_LOAD_HEADROOM).min(width);
    let wanted_height = (target_height * SHRINK_ON_LOAD_HEADROOM).min(height);
    // Both fit in u16: they are at most the frame's own dimensions.
    let (scaled_width, scaled_height) = decoder.scale(wanted_width as u16, wanted_height as u16)?;

    // The decoder holds one plane per component at the scaled size and then the interleaved output; a progressive
    // JPEG also keeps every DCT coefficient of the full-size image (2 bytes each) until its last scan.
    let channels = info.pixel_format.pixel_bytes() as u64;
    let scaled_pixels = u64::from(scaled_width) * u64::from(scaled_height);
    let mut needed = scaled_pixels * channels * 2;
    if info.coding_process == jpeg_decoder::CodingProcess::DctProgressive {
        needed += u64::from(width) * u64::from(height) * channels * 2;
    }
    check_alloc(needed, limits)?;
    decoder.set_max_decoding_buffer_size(usize::try_from(limits.max_alloc_bytes).unwrap_or(usize::MAX));

    let data = decoder.decode()?;
    let orientation = decoder.exif_data().and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    let (scaled_width, scaled_height) = (u32::from(scaled_width), u32::from(scaled_height));
    let expected = scaled_pixels as usize * info.pixel_format.pixel_bytes();
    if data.len() != expected {
        return Err(ImageError::corrupt(format!("JPEG decoded to {} bytes, expected {expected}", data.len())));
    }
    let (layout, data) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (Layout::Gray, data),
        jpeg_decoder::PixelFormat::L16 => {
            (Layout::Gray, data.chunks_exact(2).map(|v| (u16::from_ne_bytes([v[0], v[1]]) >> 8) as u8).collect())
        }
        jpeg_decoder::PixelFormat::RGB24 => (Layout::Rgb, data),
        jpeg_decoder::PixelFormat::CMYK32 => (Layout::Rgb, cmyk_to_rgb(&data)),
    };
    Ok(Decoded {
        pixels: Pixels { width: scaled_width, height: scaled_height, layout, data },
        original_width: width,
        original_height: height,
        orientation,
    })
}

/// `jpeg-decoder` has already undone Adobe's inverted CMYK, so this is the plain device conversion. Without a colour
/// profile it is approximate, which is as good as a thumbnail of a print file needs.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(cmyk.len() / 4 * 3);
    for px in cmyk.chunks_exact(4) {
        let white = 255 - u16::from(px[3]);
        for &ink in &px[..3] {
            rgb.push(((255 - u16::from(ink)) * white / 255) as u8);
        }
    }
    rgb
}

/// The formats read through `image`; JPEG never gets here.
fn is_supported(format: ImageFormat) -> bool {
    matches!(format, ImageFormat::Png | ImageFormat::Gif | ImageFormat::WebP | ImageFormat::Tiff | ImageFormat::Bmp)
}

fn decode_other(input: &[u8], limits: &Limits) -> Result<Decoded, ImageError> {
    let mut reader = ImageReader::new(std::io::Cursor::new(input))
        .with_guessed_format()
        .map_err(|e| ImageError::corrupt(format!("reading the image failed: {e}")))?;
    let format = match reader.format() {
        Some(format) if is_supported(format) => format,
        Some(format) => return Err(ImageError::unsupported(format!("{format:?} images are not thumbnailed"))),
        None => return Err(ImageError::unsupported("not a recognised image format")),
    };
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(decoder_limits);
    // Reads the header only (PNG: up to the first IDAT; GIF: the screen descriptor; TIFF: the first IFD).
    let mut decoder = reader.into_decoder().map_err(|e| over_limit_or(e, None, limits))?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, limits)?;
    // The decoder's buffer, plus the 8-bit copy when the file has 16-bit or float samples.
    let mut needed = decoder.total_bytes();
    let color = decoder.color_type();
    if !matches!(color, image::ColorType::L8 | image::ColorType::Rgb8 | image::ColorType::Rgba8) {
        needed = needed.saturating_add(u64::from(width) * u64::from(height) * 4);
    }
    check_alloc(needed, limits)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|e| over_limit_or(e, Some(needed), limits))?;
    tracing::trace!(?format, width, height, "decoded image");
    Ok(Decoded { pixels: into_pixels(image), original_width: width, original_height: height, orientation })
}

fn into_pixels(image: DynamicImage) -> Pixels {
    let (width, height) = (image.width(), image.height());
    let (layout, data) = match image {
        DynamicImage::ImageLuma8(buffer) => (Layout::Gray, buffer.into_raw()),
        DynamicImage::ImageRgb8(buffer) => (Layout::Rgb, buffer.into_raw()),
        DynamicImage::ImageRgba8(buffer) => (Layout::Rgba, buffer.into_raw()),
        other if other.color().has_alpha() => (Layout::Rgba, other.into_rgba8().into_raw()),
        other if other.color().has_color() => (Layout::Rgb, other.into_rgb8().into_raw()),
        other => (Layout::Gray, other.into_luma8().into_raw()),
    };
    Pixels { width, height, layout, data }
}

/// `image` reports its own allocation limit without numbers; give it the budget's.
fn over_limit_or(error: image::ImageError, needed: Option<u64>, limits: &Limits) -> ImageError {
    match error {
        image::ImageError::Limits(_) => ImageError::OverMemoryLimit {
            needed: needed.unwrap_or(limits.max_alloc_bytes.saturating_add(1)),
            limit: limits.max_alloc_bytes,
        },
        other => other.into(),
    }
}

/// The decompression-bomb check: runs on the header's dimensions, before anything is allocated for pixels.
fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::corrupt(format!("the header declares an empty image ({width}×{height})")));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageError::TooLarge { width, height, limit: limits.max_pixels });
    }
    Ok(())
}

fn check_alloc(needed: u64, limits: &Limits) -> Result<(), ImageError> {
    if needed > limits.max_alloc_bytes {
        return Err(ImageError::OverMemoryLimit { needed, limit: limits.max_alloc_bytes });
    }
    Ok(())
}
