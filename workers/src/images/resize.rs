//! Fitting into a bounding box, resampling, and EXIF orientation.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage, RgbaImage};

use super::decode::{Layout, Pixels};
use super::ImageError;

/// The dimensions of a `width`×`height` image fitted into a `size`×`size` box, keeping its aspect ratio and never
/// enlarging it. The short side is rounded and kept at least one pixel.
pub(super) fn fit(width: u32, height: u32, size: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= size {
        return (width, height);
    }
    let scaled = |side: u32| ((u64::from(side) * u64::from(size) + u64::from(long) / 2) / u64::from(long)).max(1);
    (scaled(width) as u32, scaled(height) as u32)
}

/// Resamples pixels, reusing its buffers from one thumbnail to the next.
pub(super) struct Resampler {
    resizer: Resizer,
    options: ResizeOptions,
}

impl Resampler {
    pub(super) fn new() -> Resampler {
        // Lanczos3, as libvips' thumbnail uses. Alpha is premultiplied around the convolution (the option's
        // default), so transparent pixels' colours do not bleed into their neighbours.
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
        Resampler { resizer: Resizer::new(), options }
    }

    /// `source` resampled to `width`×`height`.
    pub(super) fn resize(&mut self, source: &Pixels, width: u32, height: u32) -> Result<Pixels, ImageError> {
        if (width, height) == (source.width, source.height) {
            return Ok(source.clone());
        }
        let pixel_type = match source.layout {
            Layout::Gray => PixelType::U8,
            Layout::Rgb => PixelType::U8x3,
            Layout::Rgba => PixelType::U8x4,
        };
        let render_error = |e: &dyn std::fmt::Display| ImageError::Render { reason: format!("resize: {e}") };
        let from =
            ImageRef::new(source.width, source.height, &source.data, pixel_type).map_err(|e| render_error(&e))?;
        let mut to = Image::new(width, height, pixel_type);
        self.resizer.resize(&from, &mut to, &self.options).map_err(|e| render_error(&e))?;
        Ok(Pixels { width, height, layout: source.layout, data: to.into_vec() })
    }
}

/// Turns and flips `pixels` as the EXIF orientation says, so the thumbnail stands upright without its metadata.
pub(super) fn orient(pixels: Pixels, orientation: Orientation) -> Pixels {
    if orientation == Orientation::NoTransforms {
        return pixels;
    }
    let Pixels { width, height, layout, data } = pixels;
    const SIZED: &str = "a buffer of width × height × channels bytes";
    let mut image = match layout {
        Layout::Gray => DynamicImage::ImageLuma8(GrayImage::from_raw(width, height, data).expect(SIZED)),
        Layout::Rgb => DynamicImage::ImageRgb8(RgbImage::from_raw(width, height, data).expect(SIZED)),
        Layout::Rgba => DynamicImage::ImageRgba8(RgbaImage::from_raw(width, height, data).expect(SIZED)),
    };
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let data = match image {
        DynamicImage::ImageLuma8(buffer) => buffer.into_raw(),
        DynamicImage::ImageRgb8(buffer) => buffer.into_raw(),
        DynamicImage::ImageRgba8(buffer) => buffer.into_raw(),
        _ => unreachable!("apply_orientation keeps the pixel type"),
    };
    Pixels { width, height, layout, data }
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fitting_keeps_the_aspect_ratio_and_never_enlarges() {
        assert_eq!(fit(4000, 3000, 1024), (1024, 768));
        assert_eq!(fit(3000, 4000, 256), (192, 256));
        assert_eq!(fit(300, 200, 1024), (300, 200));
        assert_eq!(fit(10_000, 3, 64), (64, 1));
        assert_eq!(fit(1024, 1024, 1024), (1024, 1024));
    }
}
