// The application's preprocessing (applications/sign_language/data.py,
// load_image) in the browser: decode the image as stored (no colour
// management, no EXIF rotation, as Pillow), convert to RGB (or L), and
// resize to the model's square input with Pillow's BILINEAR resampling:
// a triangle filter widened by the scale factor when shrinking, fixed-point
// coefficients (22 fractional bits), a horizontal pass rounded to 8 bits,
// then a vertical pass. The pure functions below also run under Node (the
// test compares them with Pillow on random images).
//
// One difference is known and reported by the selftest: for a JPEG at least
// twice the model's input size in both sides, Pillow's draft() lets libjpeg
// decode it at 1/2, 1/4 or 1/8 scale before the resize; a browser decodes
// every image at full size. At the default 64x64 input the dataset's
// 100x100 photos are not affected.

const PRECISION_BITS = 32 - 8 - 2;

function bilinear(x) {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis.
export function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const weights = new Float64Array(xmax);
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinear((x + xmin - center + 0.5) * ss);
      weights[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? weights[x] / ww : weights[x];
      kk[xx * ksize + x] =
        w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(value) {
  if (value >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (value <= 0) return 0;
  return Math.floor(value / 2 ** PRECISION_BITS);
}

// Resizes interleaved 8-bit pixels (width x height x channels) to
// outWidth x outHeight as Image.resize(..., BILINEAR) does.
export function resizeBilinear(pixels, width, height, channels, outWidth, outHeight) {
  let src = pixels;
  let srcHeight = height;
  let yFirst = 0;
  const vert = coefficients(height, outHeight);
  const needHorizontal = outWidth !== width;
  const needVertical = outHeight !== height;
  if (needHorizontal) {
    const horiz = coefficients(width, outWidth);
    // Only the rows the vertical pass reads.
    yFirst = vert.bounds[0];
    const yLast = vert.bounds[outHeight * 2 - 2] + vert.bounds[outHeight * 2 - 1];
    const rows = needVertical ? yLast - yFirst : height;
    if (!needVertical) yFirst = 0;
    const temp = new Uint8Array(outWidth * rows * channels);
    for (let y = 0; y < rows; y++) {
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = horiz.bounds[xx * 2];
        const xmax = horiz.bounds[xx * 2 + 1];
        const k = xx * horiz.ksize;
        for (let c = 0; c < channels; c++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) {
            ss += src[((y + yFirst) * width + x + xmin) * channels + c] * horiz.kk[k + x];
          }
          temp[(y * outWidth + xx) * channels + c] = clip8(ss);
        }
      }
    }
    src = temp;
    srcHeight = rows;
  }
  if (!needVertical) {
    return needHorizontal ? src : Uint8Array.from(src);
  }
  const rowWidth = needHorizontal ? outWidth : width;
  const out = new Uint8Array(rowWidth * outHeight * channels);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = vert.bounds[yy * 2] - (needHorizontal ? yFirst : 0);
    const ymax = vert.bounds[yy * 2 + 1];
    const k = yy * vert.ksize;
    for (let xx = 0; xx < rowWidth; xx++) {
      for (let c = 0; c < channels; c++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) {
          ss += src[((y + ymin) * rowWidth + xx) * channels + c] * vert.kk[k + y];
        }
        out[(yy * rowWidth + xx) * channels + c] = clip8(ss);
      }
    }
  }
  void srcHeight;
  return out;
}

// RGBA (canvas) -> RGB, or L with Pillow's ITU-R 601-2 luma in fixed point.
export function fromRGBA(rgba, count, colorMode) {
  if (colorMode === "grayscale") {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      const r = rgba[i * 4];
      const g = rgba[i * 4 + 1];
      const b = rgba[i * 4 + 2];
      out[i] = Math.floor((r * 19595 + g * 38470 + b * 7471 + 0x8000) / 65536);
    }
    return out;
  }
  const out = new Uint8Array(count * 3);
  for (let i = 0; i < count; i++) {
    out[i * 3] = rgba[i * 4];
    out[i * 3 + 1] = rgba[i * 4 + 1];
    out[i * 3 + 2] = rgba[i * 4 + 2];
  }
  return out;
}

// Interleaved pixels -> the model's input (the model rescales by 1/255
// itself: its input is in [0, 255], as in Python).
export function preprocessPixels(rgba, width, height, size, colorMode) {
  const channels = colorMode === "grayscale" ? 1 : 3;
  const pixels = fromRGBA(rgba, width * height, colorMode);
  const resized =
    width === size && height === size ? pixels : resizeBilinear(pixels, width, height, channels, size, size);
  return { pixels: resized, tensor: Float32Array.from(resized), channels };
}

// Browser only: decodes a File/Blob to RGBA as stored.
export async function decodeImage(blob) {
  const bitmap = await createImageBitmap(blob, {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
    imageOrientation: "none",
  });
  return bitmapPixels(bitmap, 0, 0, bitmap.width, bitmap.height);
}

// Browser only: RGBA pixels of a region of a bitmap, video frame or canvas.
export function bitmapPixels(source, sx, sy, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(source, sx, sy, width, height, 0, 0, width, height);
  return { rgba: context.getImageData(0, 0, width, height).data, width, height };
}
