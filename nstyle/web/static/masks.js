// Where each painting goes: masks painted on the photo (a brush and an eraser, one colour per
// painting, undo) or uploaded, one per painting, sent with the job as the form's "mask" files.
// Every change is an operation kept in a list; undo drops the last one and replays the rest.
// Each painting's layer holds its mask in its alpha channel; colours are added only when the
// layers are shown over the photo, so a painting removed just renumbers the others.
"use strict";

const MASK_COLOURS = ["#ff5a5f", "#3fa7ff", "#ffd23f", "#5ee07a", "#c77dff", "#ff9f1c", "#2ee6d6", "#ff6fb5"];
const MASK_EDGE = 1024; // the longest side of a painted mask, in pixels (the server resizes it)
const MASK_SHOWN = 0.55; // the layers' opacity over the photo

function maskColour(index) {
  return MASK_COLOURS[index % MASK_COLOURS.length];
}

// ------------------------------------------------------------------ a greyscale PNG
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function pngChunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  let crc = 0xffffffff;
  for (const byte of out.subarray(4, 8 + data.length)) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  view.setUint32(8 + data.length, (crc ^ 0xffffffff) >>> 0);
  return out;
}

// An 8-bit greyscale PNG (colour type 0, no alpha) of ``grey`` (width x height bytes).
async function greyPNG(width, height, grey) {
  const rows = new Uint8Array((width + 1) * height); // each row: filter 0, then its bytes
  for (let y = 0; y < height; y++) rows.set(grey.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const zipped = new Response(new Blob([rows]).stream().pipeThrough(new CompressionStream("deflate")));
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header[8] = 8; // bits per value; colour type, compression, filter and interlace stay 0
  const signature = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
  const parts = [pngChunk("IHDR", header), pngChunk("IDAT", new Uint8Array(await zipped.arrayBuffer()))];
  return new Blob([signature, ...parts, pngChunk("IEND", new Uint8Array(0))], { type: "image/png" });
}

// ------------------------------------------------------------------ the painter
class MaskPainter {
  // nodes: {box, photo, view, cursor}; onChange(): called when the masks or tools change.
  constructor(nodes, onChange) {
    Object.assign(this, nodes);
    this.onChange = onChange;
    this.width = 0; // the layers' size; 0 until a photo is loaded
    this.height = 0;
    this.layers = []; // one canvas per painting
    this.ops = [];
    this.current = 0; // the painting the brush paints
    this.tool = "brush";
    this.size = 24; // the brush's diameter on screen, CSS px
    this.stroke = null; // {op, pointer}
    this.scratch = document.createElement("canvas");
    this.view.addEventListener("pointerdown", (e) => this.down(e));
    this.view.addEventListener("pointermove", (e) => this.move(e));
    for (const kind of ["pointerup", "pointercancel", "lostpointercapture"]) {
      this.view.addEventListener(kind, (e) => this.up(e));
    }
    this.view.addEventListener("pointerleave", () => (this.cursor.hidden = true));
  }

  get ready() {
    return this.width > 0;
  }

  // A new photo: the masks start again at its aspect.
  setPhoto(url) {
    this.ops = [];
    this.width = this.height = 0;
    this.view.dataset.ready = "false";
    this.photo.onload = () => {
      const { naturalWidth: w, naturalHeight: h } = this.photo;
      const factor = Math.min(1, MASK_EDGE / Math.max(w, h));
      this.width = Math.max(1, Math.round(w * factor));
      this.height = Math.max(1, Math.round(h * factor));
      for (const canvas of [this.view, this.scratch, ...this.layers]) this.fit(canvas);
      this.box.style.setProperty("--aspect", `${w} / ${h}`);
      this.box.style.setProperty("--ratio", String(w / h));
      this.view.dataset.ready = "true";
      this.render();
      this.onChange();
    };
    this.photo.src = url;
  }

  fit(canvas) {
    canvas.width = this.width;
    canvas.height = this.height;
  }

  // As many layers as paintings (a new painting gets an empty one).
  setCount(count) {
    while (this.layers.length < count) {
      const canvas = document.createElement("canvas");
      if (this.ready) this.fit(canvas);
      this.layers.push(canvas);
    }
    this.layers.length = count;
    this.current = Math.min(this.current, Math.max(0, count - 1));
    this.render();
  }

  // Painting ``index`` removed: its strokes still erase what they covered of the others.
  remove(index) {
    this.ops = this.ops.flatMap((op) => {
      if (op.layer === undefined) return [op];
      if (op.layer === index) return op.kind === "brush" ? [{ ...op, kind: "erase", layer: undefined }] : [];
      return [op.layer > index ? { ...op, layer: op.layer - 1 } : op];
    });
    this.layers.splice(index, 1);
    if (this.current >= index && this.current > 0) this.current -= 1;
    this.replay();
  }

  select(index) {
    this.current = index;
    this.onChange();
  }

  setTool(tool) {
    this.tool = tool;
    this.onChange();
  }

  setSize(size) {
    this.size = Math.max(2, Math.min(120, size));
    this.onChange();
  }

  undo() {
    if (!this.ops.length) return;
    this.ops.pop();
    this.replay();
  }

  clear() {
    if (!this.ops.length) return;
    this.ops.push({ kind: "clear" });
    this.replay();
  }

  // The file as the current painting's mask: shown tinted, sent as it is unless painted over.
  async upload(file) {
    if (!this.ready || !this.layers.length) return;
    let alpha = null;
    try {
      const bitmap = await createImageBitmap(file);
      alpha = this.alphaOf(bitmap);
      bitmap.close();
    } catch (_) {
      // the browser cannot show it: it is sent as it is, and the server says what is wrong
    }
    this.ops.push({ kind: "file", layer: this.current, file, alpha });
    this.replay();
  }

  // A picture as a layer: its luminance (over black) as the alpha channel.
  alphaOf(bitmap) {
    const canvas = document.createElement("canvas");
    this.fit(canvas);
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0, this.width, this.height);
    const data = ctx.getImageData(0, 0, this.width, this.height);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      const grey = (0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2]) * (px[i + 3] / 255);
      px[i] = px[i + 1] = px[i + 2] = 255;
      px[i + 3] = Math.round(grey);
    }
    ctx.putImageData(data, 0, 0);
    return canvas;
  }

  // ------------------------------------------------------------ drawing
  replay() {
    for (const layer of this.layers) layer.getContext("2d").clearRect(0, 0, this.width, this.height);
    for (const op of this.ops) this.apply(op, 0);
    this.render();
    this.onChange();
  }

  // Draw ``op`` (from its point ``from`` on, for a stroke being painted).
  apply(op, from) {
    if (op.kind === "clear") {
      for (const layer of this.layers) layer.getContext("2d").clearRect(0, 0, this.width, this.height);
    } else if (op.kind === "file") {
      const ctx = this.layers[op.layer].getContext("2d");
      ctx.clearRect(0, 0, this.width, this.height);
      if (op.alpha) ctx.drawImage(op.alpha, 0, 0);
    } else {
      this.layers.forEach((layer, index) => {
        const paints = op.kind === "brush" && index === op.layer;
        this.strokeOn(layer.getContext("2d"), op, from, paints ? "source-over" : "destination-out");
      });
    }
  }

  strokeOn(ctx, op, from, mode) {
    ctx.save();
    ctx.globalCompositeOperation = mode;
    ctx.fillStyle = ctx.strokeStyle = "#fff";
    ctx.lineWidth = op.size;
    ctx.lineCap = ctx.lineJoin = "round";
    const points = op.points;
    if (from === 0) {
      ctx.beginPath();
      ctx.arc(points[0][0], points[0][1], op.size / 2, 0, 2 * Math.PI);
      ctx.fill();
    }
    for (let i = Math.max(1, from); i < points.length; i++) {
      ctx.beginPath();
      ctx.moveTo(...points[i - 1]);
      ctx.lineTo(...points[i]);
      ctx.stroke();
    }
    ctx.restore();
  }

  // The layers, each in its painting's colour, over the photo.
  render() {
    if (!this.ready) return;
    const view = this.view.getContext("2d");
    const tint = this.scratch.getContext("2d");
    view.clearRect(0, 0, this.width, this.height);
    this.layers.forEach((layer, index) => {
      tint.globalCompositeOperation = "copy";
      tint.drawImage(layer, 0, 0);
      tint.globalCompositeOperation = "source-in";
      tint.fillStyle = maskColour(index);
      tint.fillRect(0, 0, this.width, this.height);
      view.globalAlpha = MASK_SHOWN;
      view.drawImage(this.scratch, 0, 0);
    });
    view.globalAlpha = 1;
  }

  // ------------------------------------------------------------ the pointer (mouse, pen, touch)
  at(event) {
    const rect = this.view.getBoundingClientRect();
    const scale = this.width / rect.width;
    return { point: [(event.clientX - rect.left) * scale, (event.clientY - rect.top) * scale], scale, rect };
  }

  down(event) {
    if (!this.ready || !this.layers.length || this.stroke || event.button !== 0) return;
    event.preventDefault();
    this.view.setPointerCapture(event.pointerId);
    const { point, scale } = this.at(event);
    const op = { kind: this.tool, layer: this.tool === "brush" ? this.current : undefined, size: this.size * scale, points: [point] };
    this.ops.push(op);
    this.stroke = { op, pointer: event.pointerId };
    this.apply(op, 0);
    this.render();
    this.showCursor(event);
  }

  move(event) {
    this.showCursor(event);
    if (!this.stroke || event.pointerId !== this.stroke.pointer) return;
    const points = this.stroke.op.points;
    const from = points.length;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const each of events.length ? events : [event]) points.push(this.at(each).point);
    this.apply(this.stroke.op, from);
    this.render();
  }

  up(event) {
    if (!this.stroke || event.pointerId !== this.stroke.pointer) return;
    this.stroke = null;
    if (event.pointerType !== "mouse") this.cursor.hidden = true;
    this.onChange();
  }

  showCursor(event) {
    if (!this.ready || event.pointerType === "touch") return;
    const rect = this.box.getBoundingClientRect();
    this.cursor.style.width = this.cursor.style.height = `${this.size}px`;
    this.cursor.style.transform = `translate(${event.clientX - rect.left - this.size / 2}px, ${event.clientY - rect.top - this.size / 2}px)`;
    this.cursor.dataset.tool = this.tool;
    this.cursor.hidden = false;
  }

  // ------------------------------------------------------------ what the job sends
  // Which paintings have a mask: a layer with anything on it, or a file.
  painted() {
    return this.layers.map((layer, index) => this.fileOf(index) !== null || this.alphaBytes(index).some((v) => v > 0));
  }

  // The uploaded file of painting ``index`` when nothing changed its layer after it, else null.
  fileOf(index) {
    for (let i = this.ops.length - 1; i >= 0; i--) {
      const op = this.ops[i];
      if (op.kind === "file" && op.layer === index) return op.file;
      if (op.kind !== "file") return null;
    }
    return null;
  }

  alphaBytes(index) {
    const pixels = this.layers[index].getContext("2d", { willReadFrequently: true }).getImageData(0, 0, this.width, this.height).data;
    const alpha = new Uint8Array(this.width * this.height);
    for (let i = 0; i < alpha.length; i++) alpha[i] = pixels[4 * i + 3];
    return alpha;
  }

  // The masks to send, [{blob, name}] one per painting in order, or [] when none is painted;
  // an Error naming a painting (a reference, in photo to photo: ``noun``) without a mask
  // when only some have one.
  async masks(names, noun = "painting") {
    if (!this.ready || !this.ops.length) return [];
    const has = this.painted();
    if (!has.some(Boolean)) return [];
    const missing = has.indexOf(false);
    if (missing >= 0) {
      throw new Error(
        `${noun} ${missing + 1} (${names[missing]}) has no mask: paint where it goes or upload one, or clear the masks`,
      );
    }
    const masks = [];
    for (let index = 0; index < this.layers.length; index++) {
      const file = this.fileOf(index);
      if (file) masks.push({ blob: file, name: file.name });
      else masks.push({ blob: await greyPNG(this.width, this.height, this.alphaBytes(index)), name: `mask-${index + 1}.png` });
    }
    return masks;
  }
}
