//! Thumbnails of image attachments: the pure, synchronous renderer behind the `images` pool.
//!
//! [`render`] takes the bytes of an upload and bounding-box sizes and returns one encoded [`Thumbnail`] per size,
//! or an [`ImageError`] whose [`code`](ImageError::code) is the reason stored on the attachment. It does no I/O and
//! starts no task; it can take tens of milliseconds on a photo, so async callers run it in `spawn_blocking`.
//!
//! The pipeline, and why:
//! - The format is sniffed from the bytes, never taken from the declared content type ([`is_thumbnailable`] only
//!   spares the queue uploads that cannot be images). JPEG, PNG, WebP, GIF (first frame), TIFF and BMP are read.
//! - The header's dimensions are checked against [`Limits`] before any pixel buffer exists, so a tiny file that
//!   declares 30,000 × 30,000 pixels is refused in microseconds instead of allocating gigabytes.
//! - The image is decoded once. JPEG is shrunk while it decodes (DCT scaling, see `decode`), to no less than the
//!   largest thumbnail. The largest thumbnail is resampled (Lanczos3) from that; each smaller one from the
//!   smallest thumbnail already made that is at least twice its size, which looks the same and costs a fraction.
//! - EXIF orientation is applied to each thumbnail, and nothing of the source's metadata is written.
//! - Opaque images become JPEG (quality [`JPEG_QUALITY`]); images with transparency become PNG, since JPEG has no
//!   alpha and flattening onto a colour would guess at the page behind it. An alpha channel that is opaque
//!   everywhere counts as opaque.
//! - Broken or hostile input ends as an error, never a panic: decoders return errors for what they detect
//!   (a truncated JPEG is [`ImageError::Corrupt`], not a grey-padded picture) and a panic inside one is caught and
//!   reported as corrupt input.
mod decode;
mod encode;
mod error;
mod resize;

#[cfg(test)]
mod tests;

use std::panic::{catch_unwind, AssertUnwindSafe};

pub use encode::JPEG_QUALITY;
pub use error::ImageError;

/// The bounding boxes made when nothing else is configured, in pixels.
pub const DEFAULT_SIZES: [u32; 3] = [64, 256, 1024];

/// The largest bounding box [`render`] accepts.
pub const MAX_SIZE: u32 = 4096;

/// Budgets against decompression bombs and oversized uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Width × height the header may declare (default 50 million: a 50 MP camera; 8K video frames are 33 MP).
    pub max_pixels: u64,
    /// Bytes the decoder may allocate for one image (default 512 MiB).
    pub max_alloc_bytes: u64,
    /// Bytes of input accepted at all (default 64 MiB).
    pub max_input_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_pixels: 50_000_000, max_alloc_bytes: 512 * 1024 * 1024, max_input_bytes: 64 * 1024 * 1024 }
    }
}

/// One encoded thumbnail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    /// The bounding box asked for, e.g. 256; `width` and `height` fit inside it.
    pub size: u32,
    /// Pixels across, after orientation; never more than the source's.
    pub width: u32,
    /// Pixels down, after orientation; never more than the source's.
    pub height: u32,
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Whether uploads declared as `content_type` are worth queueing for thumbnails. Parameters and case are ignored.
pub fn is_thumbnailable(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    ["image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/bmp"]
        .iter()
        .any(|known| essence.eq_ignore_ascii_case(known))
}

/// Renders one thumbnail of `input` per entry of `sizes` (bounding boxes in pixels, returned in the same order).
///
/// Images smaller than a box are not enlarged: their thumbnail has the source's dimensions.
pub fn render(input: &[u8], sizes: &[u32], limits: &Limits) -> Result<Vec<Thumbnail>, ImageError> {
    if let Some(&size) = sizes.iter().find(|&&size| size == 0 || size > MAX_SIZE) {
        return Err(ImageError::InvalidSize { size });
    }
    let Some(&largest) = sizes.iter().max() else {
        return Ok(Vec::new());
    };
    if input.len() as u64 > limits.max_input_bytes {
        return Err(ImageError::InputTooLarge { bytes: input.len() as u64, limit: limits.max_input_bytes });
    }

    let decoded = contain_panics(|| decode::decode(input, largest, limits))?;
    let (width, height, orientation) = (decoded.original_width, decoded.original_height, decoded.orientation);
    let mut source = decoded.pixels;
    source.drop_opaque_alpha();

    let mut boxes = sizes.to_vec();
    boxes.sort_unstable_by(|a, b| b.cmp(a));
    boxes.dedup();
    let mut resampler = resize::Resampler::new();
    // Largest first; each entry unoriented, so the next one can be resampled from it.
    let mut resampled: Vec<(u32, decode::Pixels)> = Vec::with_capacity(boxes.len());
    for size in boxes {
        let (target_width, target_height) = resize::fit(width, height, size);
        let target_long = target_width.max(target_height);
        let from = resampled
            .iter()
            .rev()
            .map(|(_, pixels)| pixels)
            .find(|pixels| pixels.width.max(pixels.height) >= 2 * target_long)
            .unwrap_or(&source);
        let pixels = resampler.resize(from, target_width, target_height)?;
        resampled.push((size, pixels));
    }
    drop(source);

    let mut encoded = Vec::with_capacity(resampled.len());
    for (size, pixels) in resampled {
        let pixels = resize::orient(pixels, orientation);
        let (content_type, bytes) = encode::encode(&pixels)?;
        encoded.push(Thumbnail { size, width: pixels.width, height: pixels.height, content_type, bytes });
    }
    Ok(sizes
        .iter()
        .map(|size| encoded.iter().find(|t| t.size == *size).expect("every requested size was rendered").clone())
        .collect())
}

/// Runs a decoder as the last line of defence: a panic on hostile input becomes a corrupt-image error instead of
/// taking the worker thread down.
fn contain_panics<T>(decode: impl FnOnce() -> Result<T, ImageError>) -> Result<T, ImageError> {
    catch_unwind(AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(ImageError::corrupt(format!("the decoder failed on this input ({message})")))
    })
}
