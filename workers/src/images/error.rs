//! Why an image yields no thumbnails, with the stable reason code stored on the attachment.

/// Why [`render`](super::render) made no thumbnails.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Not an image, or a format (or a feature of one) this renderer does not read.
    #[error("unsupported image: {reason}")]
    Unsupported { reason: String },
    /// A supported format whose data is broken: truncated, inconsistent, or a decoder that gave up.
    #[error("corrupt image: {reason}")]
    Corrupt { reason: String },
    /// The header declares more pixels than [`Limits::max_pixels`](super::Limits::max_pixels).
    #[error("image of {width}×{height} pixels is over the limit of {limit} pixels")]
    TooLarge { width: u32, height: u32, limit: u64 },
    /// Decoding would allocate more than [`Limits::max_alloc_bytes`](super::Limits::max_alloc_bytes).
    #[error("decoding the image needs about {needed} bytes, over the limit of {limit}")]
    OverMemoryLimit { needed: u64, limit: u64 },
    /// The input is longer than [`Limits::max_input_bytes`](super::Limits::max_input_bytes).
    #[error("input of {bytes} bytes is over the limit of {limit}")]
    InputTooLarge { bytes: u64, limit: u64 },
    /// A requested bounding box of 0 or above [`MAX_SIZE`](super::MAX_SIZE): the caller's mistake, not the image's.
    #[error("thumbnail size {size} is not between 1 and {max}", max = super::MAX_SIZE)]
    InvalidSize { size: u32 },
    /// The resizer or an encoder refused the decoded pixels: a bug rather than bad input.
    #[error("rendering the thumbnail failed: {reason}")]
    Render { reason: String },
}

impl ImageError {
    /// The stable snake_case reason stored on the attachment and shown to clients.
    pub fn code(&self) -> &'static str {
        match self {
            ImageError::Unsupported { .. } => "image_unsupported",
            ImageError::Corrupt { .. } => "image_corrupt",
            ImageError::TooLarge { .. } | ImageError::OverMemoryLimit { .. } | ImageError::InputTooLarge { .. } => {
                "image_too_large"
            }
            ImageError::InvalidSize { .. } => "thumbnail_size_invalid",
            ImageError::Render { .. } => "thumbnail_render_failed",
        }
    }

    pub(super) fn corrupt(reason: impl Into<String>) -> ImageError {
        ImageError::Corrupt { reason: reason.into() }
    }

    pub(super) fn unsupported(reason: impl Into<String>) -> ImageError {
        ImageError::Unsupported { reason: reason.into() }
    }
}

impl From<jpeg_decoder::Error> for ImageError {
    fn from(error: jpeg_decoder::Error) -> ImageError {
        match error {
            jpeg_decoder::Error::Unsupported(feature) => ImageError::unsupported(format!("JPEG with {feature:?}")),
            jpeg_decoder::Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                ImageError::corrupt("JPEG data ends early (truncated file)")
            }
            other => ImageError::corrupt(format!("JPEG: {other}")),
        }
    }
}

impl From<image::ImageError> for ImageError {
    fn from(error: image::ImageError) -> ImageError {
        use image::ImageError as E;
        match error {
            E::Unsupported(e) => ImageError::unsupported(e.to_string()),
            // Callers that know the budget map this one to `OverMemoryLimit` first (see `decode`).
            E::Limits(e) => ImageError::corrupt(format!("decoder limit: {e}")),
            E::Encoding(e) => ImageError::Render { reason: e.to_string() },
            E::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                ImageError::corrupt("image data ends early (truncated file)")
            }
            other => ImageError::corrupt(other.to_string()),
        }
    }
}
