// The page: loads /run.json and one runtime, classifies uploaded, dropped
// or camera images, and shows the top-3 digits. The outputs of every
// uploaded image are also kept in window.__selftest (read by
// `python -m applications.sign_language web --selftest`).
import { bitmapPixels, decodeImage, preprocessPixels } from "/preprocess.js";
import { openRuntime } from "/runtimes.js";

const state = { info: null, runner: null, queue: Promise.resolve() };
const probe = (window.__selftest = { ready: false, error: null, results: [], loadMs: null });
const $ = (id) => document.getElementById(id);

function showNote(text, isError) {
  const note = $("note");
  note.textContent = text;
  note.hidden = !text;
  note.classList.toggle("error", Boolean(isError));
}

function topK(probabilities, k) {
  return Array.from(probabilities, (p, i) => [i, p])
    .sort((a, b) => b[1] - a[1])
    .slice(0, k);
}

function pixelsCanvas(pixels, size, channels) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const image = new ImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++) image.data[i * 4 + c] = pixels[i * channels + (channels === 1 ? 0 : c)];
    image.data[i * 4 + 3] = 255;
  }
  canvas.getContext("2d").putImageData(image, 0, 0);
  canvas.title = `model input, ${size}x${size}`;
  return canvas;
}

function renderResult(target, name, pixels, probabilities, ms) {
  const { image_size: size, classes } = state.info;
  const channels = pixels.length / (size * size);
  target.replaceChildren();
  target.append(pixelsCanvas(pixels, size, channels));
  const body = document.createElement("div");
  const title = document.createElement("div");
  title.className = "name";
  title.textContent = name;
  body.append(title);
  const grid = document.createElement("div");
  grid.className = "top";
  topK(probabilities, 3).forEach(([index, p], rank) => {
    const digit = document.createElement("span");
    digit.className = "digit";
    digit.textContent = classes[index];
    const bar = document.createElement("span");
    bar.className = rank ? "bar rest" : "bar";
    bar.style.width = `${Math.max(1, p * 100).toFixed(1)}%`;
    const value = document.createElement("span");
    value.textContent = `${(p * 100).toFixed(1)}%`;
    grid.append(digit, bar, value);
  });
  body.append(grid);
  const time = document.createElement("div");
  time.className = "meta";
  time.textContent = `inference ${ms.toFixed(2)} ms`;
  body.append(time);
  target.append(body);
}

async function classifyPixels(rgba, width, height) {
  const { image_size: size, color_mode: mode } = state.info;
  const { pixels, tensor } = preprocessPixels(rgba, width, height, size, mode);
  const start = performance.now();
  const probabilities = await state.runner.run(tensor);
  return { pixels, probabilities, ms: performance.now() - start };
}

async function classifyFile(file) {
  const card = document.createElement("div");
  card.className = "result";
  card.textContent = `${file.name}: …`;
  $("results").prepend(card);
  try {
    const decoded = await decodeImage(file);
    const out = await classifyPixels(decoded.rgba, decoded.width, decoded.height);
    renderResult(card, file.name, out.pixels, out.probabilities, out.ms);
    probe.results.push({
      name: file.name,
      width: decoded.width,
      height: decoded.height,
      pixels: Array.from(out.pixels),
      probabilities: Array.from(out.probabilities),
      ms: out.ms,
    });
  } catch (error) {
    card.textContent = `${file.name}: not a readable image (${error.message || error})`;
    probe.results.push({ name: file.name, error: String(error.message || error) });
  }
}

function classifyFiles(files) {
  for (const file of files) {
    state.queue = state.queue.then(() => classifyFile(file));
  }
}

function setUpInputs() {
  $("files").addEventListener("change", (event) => {
    classifyFiles(Array.from(event.target.files));
    event.target.value = "";
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    classifyFiles(Array.from(event.dataTransfer.files).filter((f) => f.type.startsWith("image/")));
  });
}

function setUpCamera() {
  let stream = null;
  let timer = null;
  const video = $("video");
  $("camera-start").addEventListener("click", async () => {
    if (!navigator.mediaDevices?.getUserMedia) {
      $("camera-status").textContent =
        "no camera API here (it needs http://127.0.0.1 or https); upload a photo instead";
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
    } catch (error) {
      $("camera-status").textContent = `camera unavailable (${error.name}); upload a photo instead`;
      return;
    }
    video.srcObject = stream;
    await video.play();
    $("camera-view").hidden = false;
    $("camera-start").hidden = true;
    $("camera-stop").hidden = false;
    let busy = false;
    timer = setInterval(async () => {
      if (busy || !video.videoWidth) return;
      busy = true;
      // The centre square (the training photos are square), then the same resize.
      const side = Math.min(video.videoWidth, video.videoHeight);
      const sx = (video.videoWidth - side) / 2;
      const sy = (video.videoHeight - side) / 2;
      const frame = bitmapPixels(video, sx, sy, side, side);
      const out = await classifyPixels(frame.rgba, side, side);
      renderResult($("live"), "camera", out.pixels, out.probabilities, out.ms);
      busy = false;
    }, 300);
  });
  $("camera-stop").addEventListener("click", () => {
    clearInterval(timer);
    for (const track of stream?.getTracks() || []) track.stop();
    $("camera-view").hidden = true;
    $("camera-start").hidden = false;
    $("camera-stop").hidden = true;
  });
}

async function main() {
  setUpInputs();
  setUpCamera();
  const name = new URLSearchParams(location.search).get("runtime") || "litert";
  try {
    const start = performance.now();
    state.info = await (await fetch("/run.json")).json();
    state.runner = await openRuntime(name, state.info);
    probe.loadMs = performance.now() - start;
    probe.readyAt = performance.now();
    const m = state.runner.model;
    $("model-line").textContent =
      `Run ${state.info.run}: ${m.file} (${m.kind === "fused" ? "APALU as one fused custom op" : "APALU as builtin ops"}, ` +
      `${m.bytes.toLocaleString("en")} B), input ${state.info.image_size}x${state.info.image_size} ${state.info.color_mode}. ` +
      `Runtime: ${state.runner.label}. Ready in ${probe.loadMs.toFixed(0)} ms.`;
    showNote(state.runner.note, false);
    probe.model = m.file;
    probe.runtime = state.runner.label;
    probe.note = state.runner.note;
    probe.ready = true;
  } catch (error) {
    probe.error = String(error.message || error);
    $("model-line").textContent = "The model could not be loaded.";
    showNote(`${name}: ${probe.error}`, true);
  }
}

main();
