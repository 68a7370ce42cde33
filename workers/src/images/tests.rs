//! Behaviour of [`render`] on fixtures made here with the encoders: every input format, orientation, metadata,
//! transparency, and broken or hostile input.

use std::io::Cursor;

use image::codecs::gif::GifEncoder;
use image::{Delay, DynamicImage, Frame, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

use super::*;

/// A photo-like picture: gradients, a disc with a hard edge, and pixel noise, so encoders and resamplers have
/// real work and the aspect ratio is visible.
fn scene(width: u32, height: u32) -> RgbImage {
    let mut noise = 0x2545_f491_u32;
    RgbImage::from_fn(width, height, |x, y| {
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let jitter = (noise % 24) as u8;
        let (cx, cy) = (width as i64 / 2, height as i64 / 2);
        let (dx, dy) = (x as i64 - cx, y as i64 - cy);
        let inside = dx * dx + dy * dy < (height as i64 / 3).pow(2);
        let r = (x * 200 / width) as u8;
        let g = (y * 200 / height) as u8;
        let b = if inside { 220 } else { 30 };
        Rgb([r.saturating_add(jitter), g.saturating_add(jitter), b])
    })
}

fn encode_with(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).expect("the fixture encodes");
    bytes.into_inner()
}

/// A baseline JPEG at quality 90, with an APP1 Exif segment carrying `orientation` when given.
fn jpeg(image: &RgbImage, orientation: Option<u16>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, 90);
    if let Some(orientation) = orientation {
        encoder.add_app_segment(1, exif_with_orientation(orientation)).expect("a small APP1 segment");
    }
    encoder
        .encode(image.as_raw(), image.width() as u16, image.height() as u16, jpeg_encoder::ColorType::Rgb)
        .expect("the fixture encodes");
    bytes
}

/// `Exif\0\0`, then a little-endian TIFF header and IFD0 with one entry: Orientation (0x0112), SHORT, 1 value.
fn exif_with_orientation(orientation: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0II".to_vec();
    exif.extend_from_slice(&42u16.to_le_bytes());
    exif.extend_from_slice(&8u32.to_le_bytes()); // IFD0 right after the 8-byte header
    exif.extend_from_slice(&1u16.to_le_bytes()); // one entry
    exif.extend_from_slice(&0x0112u16.to_le_bytes());
    exif.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    exif.extend_from_slice(&1u32.to_le_bytes());
    exif.extend_from_slice(&orientation.to_le_bytes());
    exif.extend_from_slice(&[0, 0]); // value padding
    exif.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    exif
}

/// The APPn markers (0xE0..=0xEF) of a JPEG, in order, up to its first scan.
fn app_markers(jpeg: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut at = 2; // after SOI
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        if marker == 0xDA {
            break;
        }
        if (0xE0..=0xEF).contains(&marker) {
            markers.push(marker);
        }
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    markers
}

/// The thumbnail decoded back to RGBA, checking that its declared dimensions are the encoded ones.
fn decoded(thumbnail: &Thumbnail) -> RgbaImage {
    let image = match thumbnail.content_type {
        "image/jpeg" => {
            let mut decoder = jpeg_decoder::Decoder::new(thumbnail.bytes.as_slice());
            let data = decoder.decode().expect("the thumbnail is a valid JPEG");
            let info = decoder.info().expect("decoded");
            assert_eq!(info.pixel_format, jpeg_decoder::PixelFormat::RGB24);
            let rgb = RgbImage::from_raw(info.width.into(), info.height.into(), data).expect("RGB24 pixels");
            DynamicImage::ImageRgb8(rgb).into_rgba8()
        }
        "image/png" => image::load_from_memory_with_format(&thumbnail.bytes, ImageFormat::Png)
            .expect("the thumbnail is a valid PNG")
            .into_rgba8(),
        other => panic!("unexpected content type {other}"),
    };
    assert_eq!((image.width(), image.height()), (thumbnail.width, thumbnail.height));
    image
}

fn render_default(input: &[u8]) -> Result<Vec<Thumbnail>, ImageError> {
    render(input, &DEFAULT_SIZES, &Limits::default())
}

fn assert_near(actual: &Rgba<u8>, expected: [u8; 3], what: &str) {
    let close = actual.0[..3].iter().zip(expected).all(|(&a, e)| a.abs_diff(e) <= 40);
    assert!(close, "{what}: expected about {expected:?}, got {:?}", actual.0);
}

#[test]
fn every_input_format_yields_the_three_sizes_with_the_source_aspect_ratio() {
    let picture = scene(600, 400);
    let inputs = [
        ("jpeg", jpeg(&picture, None)),
        ("png", encode_with(picture.clone().into(), ImageFormat::Png)),
        ("webp", encode_with(picture.clone().into(), ImageFormat::WebP)),
        ("gif", encode_with(picture.clone().into(), ImageFormat::Gif)),
        ("tiff", encode_with(picture.clone().into(), ImageFormat::Tiff)),
        ("bmp", encode_with(picture.clone().into(), ImageFormat::Bmp)),
    ];
    for (format, input) in inputs {
        let thumbnails = render_default(&input).unwrap_or_else(|e| panic!("{format}: {e}"));
        let got: Vec<_> = thumbnails.iter().map(|t| (t.size, t.width, t.height, t.content_type)).collect();
        assert_eq!(
            got,
            [(64, 64, 43, "image/jpeg"), (256, 256, 171, "image/jpeg"), (1024, 600, 400, "image/jpeg")],
            "{format}"
        );
        for thumbnail in &thumbnails {
            let image = decoded(thumbnail);
            // The disc in the middle is blue, the top-left corner dark: the picture survived, not just its size.
            assert_near(image.get_pixel(image.width() / 2, image.height() / 2), [110, 110, 220], format);
            assert!(image.get_pixel(1, 1).0[2] < 80, "{format}: top-left corner is {:?}", image.get_pixel(1, 1));
        }
    }
}

#[test]
fn images_smaller_than_a_box_are_not_enlarged() {
    let input = encode_with(scene(300, 120).into(), ImageFormat::Png);
    let thumbnails = render_default(&input).expect("renders");
    let got: Vec<_> = thumbnails.iter().map(|t| (t.size, t.width, t.height)).collect();
    assert_eq!(got, [(64, 64, 26), (256, 256, 102), (1024, 300, 120)]);
}

#[test]
fn a_jpeg_shrunk_on_load_keeps_its_thumbnails_exact() {
    // The decoder scales 2400 × 1800 by 1/2 for a 1024 box, 1/4 for 512, 1/8 for 256 and not at all for a box as
    // large as the image; the thumbnails still come out at exactly the fitted size.
    let input = jpeg(&scene(2400, 1800), None);
    for (sizes, expected) in [
        (&[1024][..], &[(1024, 1024, 768)][..]),
        (&[512, 64][..], &[(512, 512, 384), (64, 64, 48)][..]),
        (&[256][..], &[(256, 256, 192)][..]),
        (&[2400][..], &[(2400, 2400, 1800)][..]),
    ] {
        let thumbnails = render(&input, sizes, &Limits::default()).expect("renders");
        let got: Vec<_> = thumbnails.iter().map(|t| (t.size, t.width, t.height)).collect();
        assert_eq!(got, expected);
        for thumbnail in &thumbnails {
            let image = decoded(thumbnail);
            assert_near(image.get_pixel(image.width() / 2, image.height() / 2), [110, 110, 220], "centre");
            assert!(image.get_pixel(1, 1).0[2] < 80, "top-left corner is {:?}", image.get_pixel(1, 1));
        }
    }
}

#[test]
fn exif_orientation_6_turns_the_thumbnail_a_quarter_clockwise() {
    // Left half red, right half blue; stored sideways, as a camera held upright writes it.
    let sideways = RgbImage::from_fn(600, 400, |x, _| if x < 300 { Rgb([230, 20, 20]) } else { Rgb([20, 20, 230]) });
    let input = jpeg(&sideways, Some(6));
    let thumbnails = render_default(&input).expect("renders");
    let got: Vec<_> = thumbnails.iter().map(|t| (t.width, t.height)).collect();
    assert_eq!(got, [(43, 64), (171, 256), (400, 600)]);
    for thumbnail in &thumbnails {
        let image = decoded(thumbnail);
        let (w, h) = (image.width(), image.height());
        // A quarter turn clockwise brings the left edge to the top.
        assert_near(image.get_pixel(w / 2, h / 4), [230, 20, 20], "top half");
        assert_near(image.get_pixel(w / 2, 3 * h / 4), [20, 20, 230], "bottom half");
    }
}

#[test]
fn thumbnails_carry_no_exif() {
    let input = jpeg(&scene(800, 600), Some(1));
    assert!(app_markers(&input).contains(&0xE1), "the fixture has an APP1 Exif segment");
    for thumbnail in render_default(&input).expect("renders") {
        assert_eq!(app_markers(&thumbnail.bytes), [0xE0], "only the JFIF header, size {}", thumbnail.size);
        assert!(!thumbnail.bytes.windows(6).any(|w| w == b"Exif\0\0"), "size {}", thumbnail.size);
    }
}

#[test]
fn a_truncated_jpeg_is_corrupt() {
    let input = jpeg(&scene(640, 480), None);
    for keep in [input.len() / 2, input.len() - 2] {
        match render_default(&input[..keep]) {
            Err(e @ ImageError::Corrupt { .. }) => assert_eq!(e.code(), "image_corrupt"),
            other => panic!("{keep} of {} bytes: expected Corrupt, got {other:?}", input.len()),
        }
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A valid 8 × 8 RGB PNG whose IHDR is rewritten (with a correct CRC) to declare `width` × `height`.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = encode_with(scene(8, 8).into(), ImageFormat::Png);
    // Signature (8), IHDR length (4), "IHDR" (4), then width and height, then 5 more bytes and the CRC.
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

#[test]
fn a_png_declaring_30000_by_30000_pixels_is_refused_from_its_header() {
    let bomb = png_declaring(30_000, 30_000);
    assert!(bomb.len() < 1024, "the bomb is tiny: {} bytes", bomb.len());
    match render_default(&bomb) {
        Err(e @ ImageError::TooLarge { width: 30_000, height: 30_000, limit: 50_000_000 }) => {
            assert_eq!(e.code(), "image_too_large")
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // With the pixel limit lifted, the memory budget still refuses it before decoding: 2.7 GB of RGB.
    let lax = Limits { max_pixels: u64::MAX, ..Limits::default() };
    match render(&bomb, &DEFAULT_SIZES, &lax) {
        Err(e @ ImageError::OverMemoryLimit { needed: 2_700_000_000, .. }) => assert_eq!(e.code(), "image_too_large"),
        other => panic!("expected OverMemoryLimit, got {other:?}"),
    }
}

#[test]
fn a_jpeg_over_the_pixel_limit_is_refused() {
    let input = jpeg(&scene(400, 300), None);
    let limits = Limits { max_pixels: 400 * 300 - 1, ..Limits::default() };
    assert!(matches!(
        render(&input, &DEFAULT_SIZES, &limits),
        Err(ImageError::TooLarge { width: 400, height: 300, .. })
    ));
}

#[test]
fn input_over_the_byte_limit_is_refused_unread() {
    let input = encode_with(scene(64, 64).into(), ImageFormat::Png);
    let limits = Limits { max_input_bytes: input.len() as u64 - 1, ..Limits::default() };
    assert!(matches!(render(&input, &DEFAULT_SIZES, &limits), Err(ImageError::InputTooLarge { .. })));
}

#[test]
fn bytes_that_are_not_an_image_are_unsupported_or_corrupt() {
    let text = b"Minutes of the planning meeting, nothing pictorial here.";
    let unsupported = render_default(text).expect_err("text is no image");
    assert_eq!(unsupported.code(), "image_unsupported", "{unsupported}");

    let mut garbage = b"\x89PNG\r\n\x1a\n".to_vec();
    garbage.extend((0..200u32).map(|i| (i * 37 % 251) as u8));
    let corrupt = render_default(&garbage).expect_err("a PNG signature over garbage");
    assert_eq!(corrupt.code(), "image_corrupt", "{corrupt}");

    let mut jpeg_garbage = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08];
    jpeg_garbage.extend((0..500u32).map(|i| (i * 91 % 256) as u8));
    let corrupt = render_default(&jpeg_garbage).expect_err("a JPEG start over garbage");
    assert!(matches!(corrupt, ImageError::Corrupt { .. } | ImageError::Unsupported { .. }), "{corrupt:?}");

    let ico = encode_with(scene(32, 32).into(), ImageFormat::Png);
    let mut ico_header = vec![0, 0, 1, 0, 1, 0, 32, 32, 0, 0, 1, 0, 32, 0];
    ico_header.extend_from_slice(&(ico.len() as u32).to_le_bytes());
    ico_header.extend_from_slice(&22u32.to_le_bytes());
    ico_header.extend_from_slice(&ico);
    assert_eq!(render_default(&ico_header).expect_err("ICO is not read").code(), "image_unsupported");
}

#[test]
fn an_animated_gif_yields_its_first_frame() {
    let frame = |colour: [u8; 4]| {
        Frame::from_parts(RgbaImage::from_pixel(90, 60, Rgba(colour)), 0, 0, Delay::from_numer_denom_ms(100, 1))
    };
    let mut gif = Vec::new();
    GifEncoder::new(&mut gif)
        .encode_frames([frame([230, 20, 20, 255]), frame([20, 20, 230, 255])])
        .expect("the fixture encodes");
    let thumbnails = render_default(&gif).expect("renders");
    let got: Vec<_> = thumbnails.iter().map(|t| (t.width, t.height, t.content_type)).collect();
    assert_eq!(got, [(64, 43, "image/jpeg"), (90, 60, "image/jpeg"), (90, 60, "image/jpeg")]);
    for thumbnail in &thumbnails {
        let image = decoded(thumbnail);
        assert_near(image.get_pixel(image.width() / 2, image.height() / 2), [230, 20, 20], "first frame");
    }
}

#[test]
fn transparency_is_kept_as_png_and_opaque_alpha_becomes_jpeg() {
    // A transparent left half over an opaque green right half.
    let cutout =
        RgbaImage::from_fn(400, 200, |x, _| if x < 200 { Rgba([0, 0, 0, 0]) } else { Rgba([20, 200, 20, 255]) });
    let thumbnails = render_default(&encode_with(cutout.into(), ImageFormat::Png)).expect("renders");
    for thumbnail in &thumbnails {
        assert_eq!(thumbnail.content_type, "image/png");
        let image = decoded(thumbnail);
        assert_eq!(image.get_pixel(1, image.height() / 2).0[3], 0, "left stays transparent");
        assert_eq!(image.get_pixel(image.width() - 2, image.height() / 2).0, [20, 200, 20, 255]);
    }

    let opaque = DynamicImage::ImageRgb8(scene(400, 200)).into_rgba8();
    let thumbnails = render_default(&encode_with(opaque.into(), ImageFormat::Png)).expect("renders");
    assert!(thumbnails.iter().all(|t| t.content_type == "image/jpeg"));
}

#[test]
fn sizes_come_back_in_the_order_asked_and_bad_sizes_are_refused() {
    let input = encode_with(scene(500, 500).into(), ImageFormat::Png);
    let thumbnails = render(&input, &[256, 64, 256], &Limits::default()).expect("renders");
    assert_eq!(thumbnails.iter().map(|t| t.size).collect::<Vec<_>>(), [256, 64, 256]);
    assert!(render(&input, &[], &Limits::default()).expect("nothing asked").is_empty());
    for bad in [0, MAX_SIZE + 1] {
        let error = render(&input, &[64, bad], &Limits::default()).expect_err("refused");
        assert!(matches!(error, ImageError::InvalidSize { size } if size == bad), "{error:?}");
    }
}

#[test]
fn thumbnailable_content_types() {
    for yes in ["image/jpeg", "image/png", "IMAGE/WebP", "image/gif", "image/tiff", "image/bmp; foo=bar"] {
        assert!(is_thumbnailable(yes), "{yes}");
    }
    for no in ["image/svg+xml", "application/pdf", "text/plain", "image/heic", "", "image/"] {
        assert!(!is_thumbnailable(no), "{no}");
    }
}
