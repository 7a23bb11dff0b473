//! Pictures for an imported image model: a PNG or JPEG decoded (pure Rust: `png` through the
//! `image` crate, JPEG through `jpeg-decoder`, whose pixels are within 3/255 of libjpeg-turbo's
//! where zune-jpeg's differ by up to 14), brought to the card's size with a bilinear filter that widens with
//! the reduction as Pillow's `resize(BILINEAR)` does, and written into the graph's input as the
//! card's [`ImageInput`] says: channel order, layout, scale, mean and std.
//!
//! A picture is untrusted input: its format is checked from its bytes (PNG and JPEG only), its
//! size is read from the header and refused past [`MAX_SIDE`] pixels a side or [`MAX_PIXELS`]
//! in all before anything is decoded, and the decoder's allocations are bounded.

use image::{ImageFormat, ImageReader, Limits, RgbImage, imageops::FilterType};

use crate::card::{Channels, ImageInput, Layout, Resize};

/// The widest or tallest picture taken.
pub const MAX_SIDE: u32 = 8192;
/// The most pixels a picture may have (a 40-megapixel photograph).
pub const MAX_PIXELS: u64 = 40_000_000;
/// The most memory the decoder may allocate for one picture.
const MAX_ALLOC: u64 = 256 * 1024 * 1024;

/// What a picture is, for the monitor: its size, mean brightness and contrast (the standard
/// deviation of brightness), in 0–1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub width: u32,
    pub height: u32,
    pub brightness: f32,
    pub contrast: f32,
}

/// Decode a PNG or JPEG picture into RGB, within the limits above. The error says what is
/// wrong, for a 400.
pub fn decode(bytes: &[u8]) -> Result<RgbImage, String> {
    let format = image::guess_format(bytes)
        .map_err(|_| "the picture is neither PNG nor JPEG (its first bytes are no image's)")?;
    match format {
        ImageFormat::Png => decode_png(bytes),
        ImageFormat::Jpeg => decode_jpeg(bytes),
        other => Err(format!(
            "the picture is {other:?}; the model takes PNG or JPEG"
        )),
    }
}

/// A picture of `w × h` pixels, or the error that says it is too large.
fn within_limits(w: u32, h: u32) -> Result<(), String> {
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(format!(
            "the picture is {w}×{h} pixels; the largest taken is {MAX_SIDE} pixels a side and {MAX_PIXELS} pixels in all"
        ));
    }
    Ok(())
}

fn decode_png(bytes: &[u8]) -> Result<RgbImage, String> {
    let (w, h) = ImageReader::with_format(std::io::Cursor::new(bytes), ImageFormat::Png)
        .into_dimensions()
        .map_err(|e| format!("the picture cannot be read: {e}"))?;
    within_limits(w, h)?;
    let mut reader = ImageReader::with_format(std::io::Cursor::new(bytes), ImageFormat::Png);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("the picture cannot be decoded: {e}"))?;
    Ok(img.into_rgb8())
}

fn decode_jpeg(bytes: &[u8]) -> Result<RgbImage, String> {
    use jpeg_decoder::{Decoder, PixelFormat};
    let mut d = Decoder::new(std::io::Cursor::new(bytes));
    d.set_max_decoding_buffer_size(MAX_ALLOC as usize);
    d.read_info()
        .map_err(|e| format!("the picture cannot be read: {e}"))?;
    let info = d.info().ok_or("the picture cannot be read: no header")?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    within_limits(w, h)?;
    let pixels = d
        .decode()
        .map_err(|e| format!("the picture cannot be decoded: {e}"))?;
    let rgb = match info.pixel_format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => pixels.iter().flat_map(|v| [*v, *v, *v]).collect(),
        PixelFormat::L16 => pixels
            .chunks_exact(2)
            .flat_map(|v| [v[0], v[0], v[0]])
            .collect(),
        PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let k = u16::from(255 - p[3]);
                let c = |v: u8| ((u16::from(255 - v) * k) / 255) as u8;
                [c(p[0]), c(p[1]), c(p[2])]
            })
            .collect(),
    };
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| "the picture's pixels do not fill its size".into())
}

/// A picture's size, brightness and contrast.
pub fn stats(img: &RgbImage) -> Stats {
    let n = (img.width() as f64 * img.height() as f64).max(1.0);
    let (mut sum, mut sq) = (0.0f64, 0.0f64);
    for p in img.pixels() {
        // Rec. 601 luma.
        let y =
            (0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])) / 255.0;
        sum += y;
        sq += y * y;
    }
    let mean = sum / n;
    Stats {
        width: img.width(),
        height: img.height(),
        brightness: mean as f32,
        contrast: (sq / n - mean * mean).max(0.0).sqrt() as f32,
    }
}

/// The picture at the card's size: itself, borrowed, when it has that size already (a picture
/// the service or the evaluation brought to it).
pub fn resized<'a>(img: &'a RgbImage, spec: &ImageInput) -> std::borrow::Cow<'a, RgbImage> {
    let (w, h) = (spec.width, spec.height);
    if img.width() == w && img.height() == h {
        return std::borrow::Cow::Borrowed(img);
    }
    std::borrow::Cow::Owned(match spec.resize {
        Resize::Stretch => image::imageops::resize(img, w, h, FilterType::Triangle),
        Resize::CenterCrop => {
            // The smallest scale at which the picture covers w × h.
            let scale =
                (f64::from(w) / f64::from(img.width())).max(f64::from(h) / f64::from(img.height()));
            let sw = ((f64::from(img.width()) * scale).round() as u32).max(w);
            let sh = ((f64::from(img.height()) * scale).round() as u32).max(h);
            let scaled = image::imageops::resize(img, sw, sh, FilterType::Triangle);
            image::imageops::crop_imm(&scaled, (sw - w) / 2, (sh - h) / 2, w, h).to_image()
        }
    })
}

/// Append the picture (already at the card's size) to `out` as the graph takes it: channels
/// in the card's order and layout, each value `(v × scale − mean) / std`.
pub fn write_tensor(img: &RgbImage, spec: &ImageInput, out: &mut Vec<f32>) {
    let order: [usize; 3] = match spec.channels {
        Channels::Rgb => [0, 1, 2],
        Channels::Bgr => [2, 1, 0],
    };
    let norm = |c: usize, v: u8| {
        let x = f32::from(v) * spec.scale - spec.mean.get(c).copied().unwrap_or(0.0);
        x / spec.std.get(c).copied().unwrap_or(1.0)
    };
    match spec.layout {
        Layout::Nchw => {
            for (c, &src) in order.iter().enumerate() {
                out.extend(img.pixels().map(|p| norm(c, p[src])));
            }
        }
        Layout::Nhwc => {
            for p in img.pixels() {
                for (c, &src) in order.iter().enumerate() {
                    out.push(norm(c, p[src]));
                }
            }
        }
    }
}

/// The shape of `n` pictures as the graph takes them.
pub fn shape(spec: &ImageInput, n: usize) -> [usize; 4] {
    let (h, w) = (spec.height as usize, spec.width as usize);
    match spec.layout {
        Layout::Nchw => [n, 3, h, w],
        Layout::Nhwc => [n, h, w, 3],
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec() -> ImageInput {
        ImageInput {
            tensor: "pixels".into(),
            width: 2,
            height: 1,
            resize: Resize::Stretch,
            channels: Channels::Rgb,
            layout: Layout::Nchw,
            scale: 1.0 / 255.0,
            mean: vec![0.5, 0.5, 0.5],
            std: vec![0.5, 0.5, 0.5],
        }
    }

    fn png(img: &RgbImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn pixels_are_laid_out_and_normalised_as_the_card_says() {
        let img = RgbImage::from_raw(2, 1, vec![255, 0, 51, 0, 255, 102]).unwrap();
        let mut out = Vec::new();
        write_tensor(&img, &spec(), &mut out);
        let want = [1.0, -1.0, -1.0, 1.0, -0.6, -0.2];
        assert!(
            out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{out:?}"
        );
        let mut s = spec();
        s.layout = Layout::Nhwc;
        s.channels = Channels::Bgr;
        s.mean.clear();
        s.std.clear();
        s.scale = 1.0;
        out.clear();
        write_tensor(&img, &s, &mut out);
        assert_eq!(out, [51.0, 0.0, 255.0, 102.0, 255.0, 0.0]);
        assert_eq!(shape(&s, 4), [4, 1, 2, 3]);
    }

    #[test]
    fn a_picture_is_decoded_and_what_is_not_one_is_refused() {
        let img = RgbImage::from_pixel(3, 2, image::Rgb([10, 20, 30]));
        let back = decode(&png(&img)).unwrap();
        assert_eq!(back, img);
        let s = stats(&back);
        assert_eq!((s.width, s.height), (3, 2));
        assert!(s.contrast.abs() < 1e-6);
        let err = decode(b"GIF89a........").unwrap_err();
        assert!(err.contains("Gif"), "{err}");
        let err = decode(b"not a picture").unwrap_err();
        assert!(err.contains("neither PNG nor JPEG"), "{err}");
        let mut truncated = png(&img);
        truncated.truncate(truncated.len() / 2);
        assert!(decode(&truncated).is_err());
    }

    #[test]
    fn a_huge_picture_is_refused_from_its_header() {
        // A PNG header that says 20000 × 20000: refused before any pixel is decoded.
        let img = RgbImage::from_pixel(1, 1, image::Rgb([0, 0, 0]));
        let mut bytes = png(&img);
        // IHDR's width and height follow the 8-byte signature, the chunk's length and type.
        bytes[16..20].copy_from_slice(&20000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&20000u32.to_be_bytes());
        // The chunk's CRC-32 over its type and data (13 bytes), so that only the size is wrong.
        let mut crc = !0u32;
        for b in &bytes[12..29] {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        bytes[29..33].copy_from_slice(&(!crc).to_be_bytes());
        let err = decode(&bytes).unwrap_err();
        assert!(err.contains("20000×20000"), "{err}");
    }

    #[test]
    fn a_picture_is_brought_to_the_cards_size() {
        let img = RgbImage::from_pixel(8, 4, image::Rgb([200, 100, 0]));
        let mut s = spec();
        s.width = 4;
        s.height = 4;
        let r = resized(&img, &s);
        assert_eq!(r.dimensions(), (4, 4));
        assert_eq!(r.get_pixel(0, 0), &image::Rgb([200, 100, 0]));
        s.resize = Resize::CenterCrop;
        assert_eq!(resized(&img, &s).dimensions(), (4, 4));
    }
}
