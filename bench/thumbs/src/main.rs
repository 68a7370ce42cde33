//! The thumbnail side of `make bench` (bench/run.sh thumbs).
//!
//! `generate` writes photo-like JPEG and PNG files (smooth gradients, hard-edged shapes, fine texture and sensor-like
//! noise: flat colours would flatter every decoder); `render` runs `workers::images::render` over files one after
//! another on the calling thread, the way one `images` pool slot does, and writes what it makes. bench/run.sh times
//! `render` and vipsthumbnail the same way, from outside, so start-up and file I/O count on both sides.
use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use image::{ImageEncoder, Rgb, RgbImage};
use workers::images::{render, Limits};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes photo-N.jpg and photo-N.png, N = 1..=count, each a different picture.
    Generate {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        count: u32,
        #[arg(long, default_value_t = 4000)]
        width: u32,
        #[arg(long, default_value_t = 3000)]
        height: u32,
        /// Quality of the JPEG inputs (4:2:0, as phone cameras write them).
        #[arg(long, default_value_t = 90)]
        jpeg_quality: u8,
    },
    /// Renders thumbnails of each file in turn and writes them to `out`.
    Render {
        /// Bounding boxes, largest first, e.g. 1024 or 1024,256,64.
        #[arg(long, value_delimiter = ',', default_value = "1024")]
        sizes: Vec<u32>,
        #[arg(long)]
        out: PathBuf,
        files: Vec<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate { dir, count, width, height, jpeg_quality } => {
            fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for n in 1..=count {
                let photo = photo(width, height, n);
                let mut jpeg = Vec::new();
                let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, jpeg_quality);
                encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
                encoder.encode(photo.as_raw(), width as u16, height as u16, jpeg_encoder::ColorType::Rgb)?;
                fs::write(dir.join(format!("photo-{n}.jpg")), &jpeg)?;
                let mut png = Vec::new();
                image::codecs::png::PngEncoder::new(&mut png).write_image(
                    photo.as_raw(),
                    width,
                    height,
                    image::ExtendedColorType::Rgb8,
                )?;
                fs::write(dir.join(format!("photo-{n}.png")), &png)?;
                eprintln!("photo-{n}: {width}×{height}, JPEG {} KiB, PNG {} KiB", jpeg.len() / 1024, png.len() / 1024);
            }
        }
        Command::Render { sizes, out, files } => {
            if files.is_empty() {
                bail!("no input files");
            }
            fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let limits = Limits::default();
            let started = Instant::now();
            let mut thumbnails = 0;
            for file in &files {
                let input = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
                let rendered =
                    render(&input, &sizes, &limits).with_context(|| format!("rendering {}", file.display()))?;
                let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
                for thumbnail in rendered {
                    let extension = if thumbnail.content_type == "image/png" { "png" } else { "jpg" };
                    fs::write(out.join(format!("{stem}-{}.{extension}", thumbnail.size)), &thumbnail.bytes)?;
                    thumbnails += 1;
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "RESULT images={} thumbnails={thumbnails} seconds={seconds:.3} images_per_s={:.2}",
                files.len(),
                files.len() as f64 / seconds
            );
        }
    }
    Ok(())
}

/// A deterministic photo-like picture, different for each `seed`: a sky-to-ground gradient, overlapping discs and
/// rectangles with hard edges, a fine wavy texture and per-pixel noise.
fn photo(width: u32, height: u32, seed: u32) -> RgbImage {
    let mut state = 0x9E37_79B9_u32.wrapping_mul(seed).wrapping_add(0x7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    struct Shape {
        x: i64,
        y: i64,
        r: i64,
        is_disc: bool,
        colour: [i32; 3],
    }
    let shapes: Vec<Shape> = (0..24)
        .map(|_| Shape {
            x: i64::from(next() % width),
            y: i64::from(next() % height),
            r: i64::from(next() % (height / 4) + height / 40),
            is_disc: next() % 2 == 0,
            colour: [(next() % 256) as i32, (next() % 256) as i32, (next() % 256) as i32],
        })
        .collect();
    let phase = (next() % 628) as f32 / 100.0;
    RgbImage::from_fn(width, height, |x, y| {
        let fy = y as f32 / height as f32;
        let fx = x as f32 / width as f32;
        let mut px = [(90.0 + 120.0 * fy) as i32, (140.0 + 60.0 * fx - 40.0 * fy) as i32, (230.0 - 150.0 * fy) as i32];
        for shape in &shapes {
            let (dx, dy) = (i64::from(x) - shape.x, i64::from(y) - shape.y);
            let inside = if shape.is_disc {
                dx * dx + dy * dy < shape.r * shape.r
            } else {
                dx.abs() < shape.r && dy.abs() < shape.r / 2
            };
            if inside {
                // Shaded across the shape, so its inside is not flat either.
                let shade = ((dx + dy) * 40 / (shape.r + 1)) as i32;
                px = [shape.colour[0] + shade, shape.colour[1] + shade, shape.colour[2] + shade];
            }
        }
        let texture = (18.0 * ((x as f32 * 0.11 + phase).sin() * (y as f32 * 0.07).cos())) as i32;
        let noise = (next() % 21) as i32 - 10;
        Rgb(px.map(|c| (c + texture + noise).clamp(0, 255) as u8))
    })
}
