// A small blurhash decoder (https://blurha.sh, the algorithm by Wolt) drawing into a canvas. The
// placeholder is decoded at a few dozen pixels and scaled up by CSS, which also blurs it nicely.

const CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';

function decode83(text, from, to) {
  let value = 0;
  for (let i = from; i < to; i++) {
    const digit = CHARS.indexOf(text[i]);
    if (digit < 0) throw new Error('not a blurhash');
    value = value * 83 + digit;
  }
  return value;
}

function srgbToLinear(v) {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
}

function linearToSrgb(v) {
  const c = Math.max(0, Math.min(1, v));
  return c <= 0.0031308 ? Math.round(c * 12.92 * 255 + 0.5) : Math.round((1.055 * Math.pow(c, 1 / 2.4) - 0.055) * 255 + 0.5);
}

const signPow = (v, exp) => Math.sign(v) * Math.pow(Math.abs(v), exp);

// Decodes `hash` into RGBA pixels of width × height; throws on a malformed hash.
export function decode(hash, width, height, punch = 1) {
  if (!hash || hash.length < 6) throw new Error('not a blurhash');
  const size = decode83(hash, 0, 1);
  const nx = (size % 9) + 1;
  const ny = Math.floor(size / 9) + 1;
  if (hash.length !== 4 + 2 * nx * ny) throw new Error('not a blurhash');
  const maxValue = ((decode83(hash, 1, 2) + 1) / 166) * punch;
  const colors = new Array(nx * ny);
  const dc = decode83(hash, 2, 6);
  colors[0] = [srgbToLinear(dc >> 16), srgbToLinear((dc >> 8) & 255), srgbToLinear(dc & 255)];
  for (let i = 1; i < colors.length; i++) {
    const v = decode83(hash, 4 + i * 2, 6 + i * 2);
    const q = (n) => signPow((n - 9) / 9, 2) * maxValue;
    colors[i] = [q(Math.floor(v / 361)), q(Math.floor(v / 19) % 19), q(v % 19)];
  }
  const pixels = new Uint8ClampedArray(width * height * 4);
  const cosX = new Float64Array(width * nx);
  const cosY = new Float64Array(height * ny);
  for (let x = 0; x < width; x++) for (let i = 0; i < nx; i++) cosX[x * nx + i] = Math.cos((Math.PI * x * i) / width);
  for (let y = 0; y < height; y++) for (let j = 0; j < ny; j++) cosY[y * ny + j] = Math.cos((Math.PI * y * j) / height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0; j < ny; j++) {
        const cy = cosY[y * ny + j];
        for (let i = 0; i < nx; i++) {
          const basis = cosX[x * nx + i] * cy;
          const c = colors[i + j * nx];
          r += c[0] * basis;
          g += c[1] * basis;
          b += c[2] * basis;
        }
      }
      const at = 4 * (x + y * width);
      pixels[at] = linearToSrgb(r);
      pixels[at + 1] = linearToSrgb(g);
      pixels[at + 2] = linearToSrgb(b);
      pixels[at + 3] = 255;
    }
  }
  return pixels;
}

// A canvas showing the placeholder, `aria-hidden` (the image beside it carries the description).
// Returns null for a missing or malformed hash.
export function placeholder(hash, aspect) {
  if (!hash) return null;
  const ratio = aspect > 0 ? aspect : 1;
  const width = ratio >= 1 ? 32 : Math.max(4, Math.round(32 * ratio));
  const height = ratio >= 1 ? Math.max(4, Math.round(32 / ratio)) : 32;
  try {
    const pixels = decode(hash, width, height);
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    canvas.className = 'blurhash';
    canvas.setAttribute('aria-hidden', 'true');
    canvas.getContext('2d').putImageData(new ImageData(pixels, width, height), 0, 0);
    return canvas;
  } catch (_) {
    return null;
  }
}
