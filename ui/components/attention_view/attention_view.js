// The attention view: one head's heatmap, or BertViz-style lines, that answer the mouse.
//
// Streamlit (components v2) calls the default export with {data, parentElement} when the view is
// mounted, and again with new data whenever the page reruns with other weights (same parentElement),
// so every call draws the view from scratch. Nothing is fetched: plain JavaScript, no libraries.
//
// Tokens and titles are user text: they reach the page only through textContent (HTML elements and
// SVG <text> nodes), never innerHTML, so "<b>" is shown as the four characters it is.

const SVG = "http://www.w3.org/2000/svg";
const observers = new WeakMap();   // parentElement -> the ResizeObserver of the view drawn in it
const shown = new WeakMap();       // parentElement -> the data it shows now (a slow decode of older data is dropped)
const ROW_MAX = 48;                // px: the tallest heatmap row

export default function render({ data, parentElement, setTriggerValue }) {
  observers.get(parentElement)?.disconnect();
  shown.set(parentElement, data);
  const root = parentElement.querySelector(".attention-view");
  let width = 0;
  let weights = null;                                     // the grid's, once decoded
  const draw = () => {
    if (width === 0 || (data.mode === "grid" && !weights)) return;
    root.replaceChildren();
    for (const name of Object.keys(root.dataset)) delete root.dataset[name];
    root.dataset.mode = data.mode;
    if (data.mode === "grid") return drawGrid(root, data, width, weights, setTriggerValue);
    if (data.tokens.length === 0) return;                 // the page says why; nothing to draw
    (data.mode === "lines" ? drawLines : drawHeatmap)(root, data, width);
  };
  if (data.mode === "grid") {
    decodeGrid(data).then(decoded => {
      if (shown.get(parentElement) !== data) return;      // newer data arrived meanwhile: it draws itself
      weights = decoded;
      draw();
    });
  }
  // Draw at the width the page gives us, and again when that width really changes.
  const observer = new ResizeObserver(() => {
    const now = Math.floor(root.clientWidth);
    if (now > 0 && Math.abs(now - width) > 8) { width = now; draw(); }
  });
  observer.observe(root);
  observers.set(parentElement, observer);
  return () => observer.disconnect();
}

// -- small helpers ------------------------------------------------------------------------------
function svgNode(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function htmlNode(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function shorten(text, limit) {
  const characters = Array.from(text);          // whole characters: never half an emoji
  return characters.length <= limit ? text : characters.slice(0, limit - 1).join("") + "…";
}

function textWidth(fontSize) {
  const context = document.createElement("canvas").getContext("2d");
  context.font = `${fontSize}px sans-serif`;
  return text => context.measureText(text).width;
}

// "#3 flies": the position tells repeated tokens apart.
const tokenName = (data, i) => `#${data.positions[i]} ${data.tokens[i]}`;

// "rgb(8, 48, 107)" or "#08306b" as [8, 48, 107].
function channels(colour) {
  if (colour.startsWith("#")) return [1, 3, 5].map(i => parseInt(colour.slice(i, i + 2), 16));
  return colour.match(/[\d.]+/g).slice(0, 3).map(Number);
}

// A colour scale given as Plotly's stops [[0, "rgb(247,251,255)"], ..., [1, "rgb(8,48,107)"]].
function colourScale(stops) {
  const parsed = stops.map(([at, rgb]) => [at, ...channels(rgb)]);
  return value => {
    const v = Math.min(1, Math.max(0, value));
    let i = 1;
    while (i < parsed.length - 1 && parsed[i][0] < v) i++;
    const [a, b] = [parsed[i - 1], parsed[i]];
    const f = (v - a[0]) / (b[0] - a[0] || 1);
    return `rgb(${[1, 2, 3].map(c => Math.round(a[c] + f * (b[c] - a[c]))).join(",")})`;
  };
}

// -- heatmap: query rows x key columns -----------------------------------------------------------
function drawHeatmap(root, data, width) {
  const { tokens, weights } = data;                       // weights: (queries, keys)
  const n = tokens.length;
  const font = n <= 40 ? 13 : n <= 80 ? 11 : 10;
  const labels = tokens.map(t => shorten(t, n > 40 ? 14 : 18));
  const labelRoom = Math.min(150, Math.max(...labels.map(textWidth(font))) + 10);
  const colourbar = 80;
  // Columns share out the whole width; rows are as tall as columns are wide up to ROW_MAX, so a short
  // sentence fills the page across without a heatmap taller than the screen.
  const cellWidth = Math.max(3, Math.floor((width - labelRoom - colourbar - 40) / n));
  const cellHeight = Math.min(cellWidth, ROW_MAX);
  const [across, down] = [cellWidth * n, cellHeight * n];
  const bar = Math.max(40, Math.min(down - 30, 300));                 // the colour bar, its title under it
  const tall = Math.max(down, bar + 30);
  const left = labelRoom + 24;                                       // room for the query axis title
  const level = labelRoom - 10 + 6 <= cellWidth;                     // every key label fits its column
  const top = level ? font + 34 : labelRoom + 30;                    // else key labels are written upright
  // Every step-th label only, so that labels never overlap (all of them are in the tooltip).
  const rowStep = Math.ceil((font + 2) / cellHeight);
  const columnStep = level ? 1 : Math.ceil((font + 2) / cellWidth);
  const colour = colourScale(data.scale);

  root.append(htmlNode("div", "title", data.title));
  const stage = htmlNode("div", "stage");
  stage.style.width = `${left + across + colourbar}px`;
  stage.style.height = `${top + tall + 10}px`;
  root.append(stage);

  const canvas = document.createElement("canvas");
  const ratio = window.devicePixelRatio || 1;
  canvas.width = across * ratio;
  canvas.height = down * ratio;
  Object.assign(canvas.style, { left: `${left}px`, top: `${top}px`, width: `${across}px`, height: `${down}px` });
  const context = canvas.getContext("2d");
  context.scale(ratio, ratio);
  weights.forEach((row, q) => row.forEach((w, k) => {
    context.fillStyle = colour(w / data.zmax);
    context.fillRect(k * cellWidth, q * cellHeight, cellWidth, cellHeight);
  }));
  stage.append(canvas);

  const svg = svgNode("svg", { width: left + across + colourbar, height: top + tall + 10 });
  stage.append(svg);
  svg.append(svgNode("text", { class: "axis-title", x: left, y: 14 }, "key (attended to) →"));
  const middle = top + down / 2;
  svg.append(svgNode("text", { class: "axis-title", x: 12, y: middle, "text-anchor": "middle",
                               transform: `rotate(-90 12 ${middle})` }, "query (attending)"));
  const rowLabels = labels.map((text, i) => svgNode("text", {
    class: "token query", x: left - 6, y: top + (i + 0.5) * cellHeight, "text-anchor": "end",
    "dominant-baseline": "central", "font-size": font, "data-index": i }, text));
  const columnLabels = labels.map((text, i) => {
    const [x, y] = [left + (i + 0.5) * cellWidth, top - (level ? 12 : 6)];   // clear of the grid's edge
    const turn = level ? { "text-anchor": "middle" } : { transform: `rotate(-90 ${x} ${y})` };
    return svgNode("text", { class: "token key", x, y, ...turn,
                             "dominant-baseline": "central", "font-size": font, "data-index": i }, text);
  });
  rowLabels.forEach((label, i) => label.classList.toggle("thinned", i % rowStep !== 0));
  columnLabels.forEach((label, i) => label.classList.toggle("thinned", i % columnStep !== 0));
  svg.append(...rowLabels, ...columnLabels);
  drawColourbar(svg, data, left + across + 18, top, bar);

  // What lights up: the query's row, the key's column, the cell where they cross.
  const grid = svgNode("rect", { class: "grid", x: left, y: top, width: across, height: down, fill: "transparent" });
  const rowBand = svgNode("rect", { class: "band row", x: left, width: across, height: cellHeight });
  const columnBand = svgNode("rect", { class: "band column", y: top, width: cellWidth, height: down });
  // The crossing cell: a dark ring round a white one, seen on pale and on dark cells alike.
  const crossing = [svgNode("rect", { class: "band cell", width: cellWidth, height: cellHeight }),
                    svgNode("rect", { class: "band cell inner", width: cellWidth, height: cellHeight })];
  svg.append(grid, rowBand, columnBand, ...crossing);
  const tooltip = htmlNode("div", "tooltip");
  stage.append(tooltip);

  function highlight(query, key, text, event) {
    rowLabels.forEach((label, i) => label.classList.toggle("active", i === query));
    columnLabels.forEach((label, i) => label.classList.toggle("active", i === key));
    rowBand.setAttribute("y", top + query * cellHeight);
    columnBand.setAttribute("x", left + key * cellWidth);
    for (const ring of crossing) {
      ring.setAttribute("x", left + key * cellWidth);
      ring.setAttribute("y", top + query * cellHeight);
    }
    for (const band of [rowBand, columnBand, ...crossing]) band.classList.add("shown");
    Object.assign(root.dataset, { query, key });
    tooltip.textContent = text;
    tooltip.style.display = "block";
    const box = stage.getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    const flip = x + 16 + tooltip.offsetWidth > box.width;        // keep it inside the view
    tooltip.style.left = `${flip ? Math.max(0, x - 12 - tooltip.offsetWidth) : x + 16}px`;
    tooltip.style.top = `${y + 16}px`;
  }
  function clear() {
    for (const label of [...rowLabels, ...columnLabels]) label.classList.remove("active");
    for (const band of [rowBand, columnBand, ...crossing]) band.classList.remove("shown");
    delete root.dataset.query;
    delete root.dataset.key;
    tooltip.style.display = "none";
  }

  grid.addEventListener("mousemove", event => {
    const box = grid.getBoundingClientRect();
    const at = (offset, size) => Math.min(n - 1, Math.max(0, Math.floor(offset / size)));
    const [q, k] = [at(event.clientY - box.top, cellHeight), at(event.clientX - box.left, cellWidth)];
    highlight(q, k, `${tokenName(data, q)} → ${tokenName(data, k)}: ${weights[q][k].toFixed(3)}`, event);
  });
  grid.addEventListener("mouseleave", clear);
  // A token's label lights up that token everywhere: its row (where it looks) and its column (who looks at it).
  const strongest = values => values.reduce((best, w, i) => (w > values[best] ? i : best), 0);
  [...rowLabels, ...columnLabels].forEach(label => {
    const i = Number(label.dataset.index);
    label.addEventListener("mouseenter", event => {
      const looksAt = strongest(weights[i]);
      const column = weights.map(row => row[i]);
      const lookedAtBy = strongest(column);
      highlight(i, i, `${tokenName(data, i)}\nlooks most at ${tokenName(data, looksAt)} (${weights[i][looksAt].toFixed(3)})` +
                      `\nlooked at most by ${tokenName(data, lookedAtBy)} (${column[lookedAtBy].toFixed(3)})`, event);
    });
    label.addEventListener("mouseleave", clear);
  });
}

function drawColourbar(svg, data, x, top, height) {
  const id = `weights-${Math.random().toString(36).slice(2)}`;
  const gradient = svgNode("linearGradient", { id, x1: 0, y1: 1, x2: 0, y2: 0 });   // bottom = 0
  for (const [at, rgb] of data.scale) gradient.append(svgNode("stop", { offset: at, "stop-color": rgb }));
  const definitions = svgNode("defs");
  definitions.append(gradient);
  svg.append(definitions, svgNode("rect", { x, y: top, width: 14, height, fill: `url(#${id})` }));
  for (const f of [0, 0.5, 1]) {
    svg.append(svgNode("text", { x: x + 20, y: top + height * (1 - f), "dominant-baseline": "central",
                                 "font-size": 11 }, (data.zmax * f).toFixed(2)));
  }
  // under the bar: above it, "weight" touched the "1.00" at the bar's top (and the last key labels)
  svg.append(svgNode("text", { class: "axis-title", x, y: top + height + 24 }, "weight"));
}

// -- lines: queries on the left, keys on the right (BertViz's head view) ------------------------
function drawLines(root, data, width) {
  const { tokens, weights, heads, colours } = data;      // weights: (heads, queries, keys)
  const n = tokens.length;
  const font = n <= 24 ? 14 : n <= 40 ? 12 : 11;
  const rowHeight = n <= 24 ? 26 : n <= 40 ? 20 : 16;
  const labels = tokens.map(t => shorten(t, 16));
  const labelRoom = Math.min(150, Math.max(...labels.map(textWidth(font))) + 14);
  const gap = Math.max(160, Math.min(420, width - 2 * labelRoom - 20));
  const [xLeft, xRight] = [labelRoom, labelRoom + gap];           // where lines start and end
  const top = 26;
  const y = i => top + (i + 0.5) * rowHeight;

  root.append(htmlNode("div", "title", data.title));
  if (heads.length > 1) {
    const legend = htmlNode("div", "legend");
    heads.forEach((head, h) => {
      const entry = htmlNode("span", "", `head ${head}`);
      entry.style.setProperty("--swatch", colours[h]);
      legend.append(entry);
    });
    root.append(legend);
  }
  const hint = "Hover a token: on the left, where it looks; on the right, which tokens look at it.";
  const readout = htmlNode("div", "readout", hint);
  root.append(readout);
  const svg = svgNode("svg", { width: 2 * labelRoom + gap, height: top + n * rowHeight + 6 });
  const stage = htmlNode("div", "stage");
  stage.style.height = `${top + n * rowHeight + 6}px`;
  stage.append(svg);
  root.append(stage);
  svg.append(svgNode("text", { class: "column-head", x: xLeft - 8, y: 14, "text-anchor": "end" }, "query"),
             svgNode("text", { class: "column-head", x: xRight + 8, y: 14 }, "key"));

  const line = (q, k, h, opacity) => svgNode("line", {
    x1: xLeft + 2, y1: y(q), x2: xRight - 2, y2: y(k), stroke: colours[h], "stroke-width": 2,
    "stroke-opacity": opacity.toFixed(3), "data-query": q, "data-key": k, "data-head": heads[h] });
  // With no hover: each query's strongest line in each head, faint.
  const idle = svgNode("g", { class: "idle" });
  weights.forEach((head, h) => head.forEach((row, q) => {
    const k = row.indexOf(Math.max(...row));
    idle.append(line(q, k, h, 0.15 + 0.45 * row[k]));
  }));
  const focus = svgNode("g", { class: "focus" });
  svg.append(idle, focus);

  // Each token: a backing box (coloured by the weight on hover) and its text, on both sides.
  const sides = { query: { x: 0, textX: xLeft - 8, anchor: "end" }, key: { x: xRight + 2, textX: xRight + 8, anchor: "start" } };
  const boxes = { query: [], key: [] };
  const texts = { query: [], key: [] };
  for (const [side, place] of Object.entries(sides)) {
    labels.forEach((text, i) => {
      const group = svgNode("g", { class: "token-group", "data-side": side, "data-index": i });
      const box = svgNode("rect", { class: "token-back", x: place.x, y: y(i) - rowHeight / 2 + 1, rx: 3,
                                    width: labelRoom - 2, height: rowHeight - 2, fill: "transparent" });
      const label = svgNode("text", { class: "token", x: place.textX, y: y(i), "text-anchor": place.anchor,
                                      "dominant-baseline": "central", "font-size": font }, text);
      group.append(box, label);
      group.addEventListener("mouseenter", () => show(side, i));
      group.addEventListener("mouseleave", clear);
      boxes[side].push(box);
      texts[side].push(label);
      svg.append(group);
    });
  }

  function show(side, i) {
    const other = side === "query" ? "key" : "query";
    focus.replaceChildren();
    idle.style.display = "none";
    const links = [];                                   // [weight, head index, other token]
    weights.forEach((head, h) => tokens.forEach((_, j) => {
      const [q, k] = side === "query" ? [i, j] : [j, i];
      const w = head[q][k];
      if (w >= 0.01) focus.append(line(q, k, h, w));   // opacity is the weight
      links.push([w, h, j]);
    }));
    // The other side's tokens get a box as strong as the largest weight between them and this token.
    tokens.forEach((_, j) => {
      const [w, h] = links.filter(link => link[2] === j).reduce((a, b) => (b[0] > a[0] ? b : a));
      boxes[other][j].setAttribute("fill", colours[h]);
      boxes[other][j].setAttribute("fill-opacity", (0.6 * w).toFixed(3));   // light enough to read the token on it
    });
    boxes[side].forEach((box, j) => box.classList.toggle("active", j === i));
    texts[side].forEach((label, j) => label.classList.toggle("active", j === i));
    const top3 = links.sort((a, b) => b[0] - a[0]).slice(0, 3).map(([w, h, j]) =>
      `${heads.length > 1 ? `head ${heads[h]}: ` : ""}${tokenName(data, j)} ${w.toFixed(2)}`);
    readout.textContent = `${tokenName(data, i)} ${side === "query" ? "looks at" : "is looked at by"}: ${top3.join(" · ")}`;
    Object.assign(root.dataset, { side, token: i });
  }
  function clear() {
    focus.replaceChildren();
    idle.style.display = "";
    for (const box of [...boxes.query, ...boxes.key]) {
      box.setAttribute("fill", "transparent");
      box.removeAttribute("fill-opacity");
      box.classList.remove("active");
    }
    for (const label of [...texts.query, ...texts.key]) label.classList.remove("active");
    readout.textContent = hint;
    delete root.dataset.side;
    delete root.dataset.token;
  }
}

// -- every head at once: a canvas mosaic of layers x heads thumbnails ---------------------------------
// The weights arrive as ui/interactive.py grid_weights packs them: uint16 multiples of data.step, all high
// bytes then all low bytes, zlib, base64. The tooltip reads the exact weight; colours come from it too.
let lastDecoded = { encoded: null, codes: null };   // a rerun with the same figure does not decode again

// Base64 to bytes: the browser's own decoder where it has one (Chrome 140, Firefox 133, Safari 18.2), else a loop
// (Uint8Array.from with a function per character took 300 ms for the 0.4 MB of 141 tokens on a busy machine).
function fromBase64(text) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function decodeGrid(data) {
  if (lastDecoded.encoded === data.encoded) return lastDecoded.codes;
  const packed = fromBase64(data.encoded);
  const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream("deflate"));
  const planes = new Uint8Array(await new Response(stream).arrayBuffer());
  const half = planes.length / 2;
  const codes = new Uint16Array(half);                 // (layers, heads, side, side)
  for (let i = 0; i < half; i++) codes[i] = (planes[i] << 8) | planes[half + i];
  lastDecoded = { encoded: data.encoded, codes };
  return codes;
}

// Colour of every code a weight can have, as Plotly colours z: linear between the scale's stops, over
// 0 .. zmax (the log scale's stops sit at 0.001, 0.002, 0.005 … of zmax, so a table by code keeps them).
function colourTable(data, codes) {
  const parsed = data.scale.map(([at, rgb]) => [at, ...channels(rgb)]);
  let top = 0;
  for (const code of codes) if (code > top) top = code;
  const table = new Uint8ClampedArray((top + 1) * 4);
  for (let code = 0, i = 1; code <= top; code++) {
    const v = Math.min(1, code * data.step / data.zmax);
    while (i < parsed.length - 1 && parsed[i][0] < v) i++;
    const [a, b] = [parsed[i - 1], parsed[i]];
    const f = Math.min(1, Math.max(0, (v - a[0]) / (b[0] - a[0] || 1)));
    for (let c = 0; c < 3; c++) table[code * 4 + c] = Math.round(a[c + 1] + f * (b[c + 1] - a[c + 1]));
    table[code * 4 + 3] = 255;
  }
  return table;
}

// "0, 0.2 … 1": about five ticks on a round step (1, 2 or 5 × 10ⁿ), as Plotly's colour bar has them.
function roundTicks(top) {
  const raw = top / 5, power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map(m => m * power).find(s => s >= raw * 0.999);
  const ticks = [];
  for (let v = 0; v <= top * 1.0001; v += step) ticks.push(Number(v.toPrecision(6)));
  return ticks;
}

const decimalsOf = value => String(value).split(".")[1]?.length ?? 0;

function drawGrid(root, data, width, codes, setTriggerValue) {
  const { layers, heads, side, starts, tokens } = data;
  const font = 13;
  const measure = textWidth(font);
  const pooled = side < tokens.length;
  // Room: layer names on the left, the colour key on the right, the thumbnails share the rest.
  const left = Math.ceil(measure(`layer ${layers - 1}`)) + 12;
  const keyRoom = 104;
  const room = width - left - keyRoom - 4;
  let gap = 8;
  let thumb = Math.floor((room - (heads - 1) * gap) / heads);
  if (thumb < 48) { gap = 4; thumb = Math.floor((room - (heads - 1) * gap) / heads); }
  thumb = Math.max(16, Math.min(180, thumb));
  if (thumb >= 2 * side) thumb -= thumb % side;           // every cell of a short sentence the same size
  const pitch = thumb + gap;
  const [across, down] = [heads * pitch - gap, layers * pitch - gap];
  // "head 7" over each column while it fits, else the number alone under a "head" title; layer names thinned
  // (every k-th) when rows are lower than a line, so no two labels ever touch.
  const named = measure(`head ${heads - 1}`) + 6 <= pitch;
  const columnStep = named ? 1 : Math.ceil((measure(String(heads - 1)) + 6) / pitch);
  const rowStep = Math.ceil((font + 4) / pitch);
  const top = 26;
  const barHeight = Math.max(120, Math.min(down, 300));
  const height = top + Math.max(down, barHeight + 30) + 8;

  const stage = htmlNode("div", "stage grid-stage");
  stage.style.width = `${left + across + keyRoom}px`;
  stage.style.height = `${height}px`;
  stage.tabIndex = 0;
  stage.setAttribute("role", "application");
  stage.setAttribute("aria-label", `Every head: ${layers} layers × ${heads} heads. Arrow keys choose a head, ` +
                                   "Enter opens it on One head.");
  root.append(stage);

  // Each thumbnail drawn at one canvas pixel per cell, then scaled to its place without smoothing (sharp cells).
  const ratio = window.devicePixelRatio || 1;
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(across * ratio);
  canvas.height = Math.round(down * ratio);
  Object.assign(canvas.style, { left: `${left}px`, top: `${top}px`, width: `${across}px`, height: `${down}px` });
  const context = canvas.getContext("2d");
  // Sharp cells when a cell gets a pixel or more; when 64 cells share fewer pixels, averaged rather than dropped.
  context.imageSmoothingEnabled = thumb * ratio < side;
  context.imageSmoothingQuality = "high";
  const table = colourTable(data, codes);
  const cell = document.createElement("canvas");
  cell.width = cell.height = side;
  const cellContext = cell.getContext("2d");
  const image = cellContext.createImageData(side, side);
  const area = side * side;
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < heads; head++) {
      const offset = (layer * heads + head) * area;
      for (let i = 0; i < area; i++) {
        const c = codes[offset + i] * 4;
        image.data[i * 4] = table[c]; image.data[i * 4 + 1] = table[c + 1];
        image.data[i * 4 + 2] = table[c + 2]; image.data[i * 4 + 3] = 255;
      }
      cellContext.putImageData(image, 0, 0);
      const x = Math.round(head * pitch * ratio), y = Math.round(layer * pitch * ratio);
      context.drawImage(cell, x, y, Math.round((head * pitch + thumb) * ratio) - x,
                        Math.round((layer * pitch + thumb) * ratio) - y);
    }
  }
  stage.append(canvas);

  const svg = svgNode("svg", { width: left + across + keyRoom, height });
  stage.append(svg);
  for (let head = 0; head < heads; head += columnStep) {
    svg.append(svgNode("text", { class: "axis-label head-label", x: left + head * pitch + thumb / 2, y: top - 10,
                                 "text-anchor": "middle", "font-size": font }, named ? `head ${head}` : String(head)));
  }
  if (!named) svg.append(svgNode("text", { class: "axis-title", x: left - 8, y: top - 10, "text-anchor": "end" }, "head"));
  for (let layer = 0; layer < layers; layer += rowStep) {
    svg.append(svgNode("text", { class: "axis-label layer-label", x: left - 8, y: top + layer * pitch + thumb / 2,
                                 "text-anchor": "end", "dominant-baseline": "central", "font-size": font },
                       `layer ${layer}`));
  }
  drawGridKey(svg, data, left + across + 22, top, barHeight);

  // One transparent target per head: what a click (or a test) finds, named for screen readers too.
  const targets = svgNode("g", { class: "thumbs" });
  for (let layer = 0; layer < layers; layer++) {
    for (let head = 0; head < heads; head++) {
      const target = svgNode("rect", { class: "thumb", x: left + head * pitch, y: top + layer * pitch, width: thumb,
                                       height: thumb, fill: "transparent", "data-layer": layer, "data-head": head,
                                       "aria-label": `layer ${layer} · head ${head}` });
      targets.append(target);
    }
  }
  const ring = svgNode("rect", { class: "band thumb-ring", width: thumb + 4, height: thumb + 4, rx: 2 });
  const cellSize = Math.max(4, thumb / side);
  const crossing = [svgNode("rect", { class: "band cell", width: cellSize, height: cellSize }),
                    svgNode("rect", { class: "band cell inner", width: cellSize, height: cellSize })];
  svg.append(targets, ring, ...crossing);
  const tooltip = htmlNode("div", "tooltip");
  stage.append(tooltip);

  // "#17 flies", or for a pooled block "#16–#18 flies … like": the positions, then the tokens.
  const blockName = b => {
    const first = starts[b], last = (b + 1 < side ? starts[b + 1] : tokens.length) - 1;
    const word = i => shorten(tokens[i], 16);
    return first === last ? `#${first} ${word(first)}` : `#${first}–#${last} ${word(first)} … ${word(last)}`;
  };
  // 3 decimals, 4 under 0.01 (the weights travel to 4): a log colour tells 0.0003 from 0.0001, so does the tooltip
  const weightText = w => w.toFixed(w < 0.01 ? 4 : 3);
  const weightAt = (layer, head, q, k) => codes[((layer * heads + head) * side + q) * side + k] * data.step;
  const note = pooled ? `\n(blocks of ~${(tokens.length / side).toFixed(0)} ${data.unit}s: queries averaged, keys summed)` : "";

  function place(x, y) {
    tooltip.style.display = "block";
    const flip = x + 16 + tooltip.offsetWidth > stage.offsetWidth;          // keep it inside the view
    tooltip.style.left = `${flip ? Math.max(0, x - 12 - tooltip.offsetWidth) : x + 16}px`;
    tooltip.style.top = `${y + 16}px`;
  }
  function light(layer, head) {
    ring.setAttribute("x", left + head * pitch - 2);
    ring.setAttribute("y", top + layer * pitch - 2);
    ring.classList.add("shown");
    Object.assign(root.dataset, { layer, head });
  }
  function clear() {
    for (const band of [ring, ...crossing]) band.classList.remove("shown");
    delete root.dataset.layer;
    delete root.dataset.head;
    tooltip.style.display = "none";
  }
  // Where the pointer is: the head, and the cell inside its thumbnail (null over a gap or outside).
  function at(event) {
    const box = canvas.getBoundingClientRect();
    const x = event.clientX - box.left, y = event.clientY - box.top;
    const [head, layer] = [Math.floor(x / pitch), Math.floor(y / pitch)];
    const [inX, inY] = [x - head * pitch, y - layer * pitch];
    if (head < 0 || layer < 0 || head >= heads || layer >= layers || inX >= thumb || inY >= thumb) return null;
    return { layer, head, q: Math.min(side - 1, Math.floor(inY / thumb * side)),
             k: Math.min(side - 1, Math.floor(inX / thumb * side)) };
  }
  stage.addEventListener("mousemove", event => {
    const spot = at(event);
    if (!spot) { clear(); stage.style.cursor = ""; return; }
    const { layer, head, q, k } = spot;
    light(layer, head);
    for (const mark of crossing) {
      mark.setAttribute("x", left + head * pitch + k * thumb / side + (thumb / side - cellSize) / 2);
      mark.setAttribute("y", top + layer * pitch + q * thumb / side + (thumb / side - cellSize) / 2);
      mark.classList.add("shown");
    }
    stage.style.cursor = "pointer";
    tooltip.textContent = `layer ${layer} · head ${head}\n${blockName(q)} → ${blockName(k)}: ` +
                          `${weightText(weightAt(layer, head, q, k))}${note}\nclick to open this head`;
    const box = stage.getBoundingClientRect();
    place(event.clientX - box.left, event.clientY - box.top);
  });
  stage.addEventListener("mouseleave", clear);
  const open = (layer, head) => setTriggerValue?.("open", [layer, head]);
  stage.addEventListener("click", event => {
    const spot = at(event);
    if (spot) open(spot.layer, spot.head);
  });

  // Keyboard: the arrows walk over the heads, Enter or Space opens the one chosen.
  let focus = null;
  function choose(layer, head) {
    focus = { layer, head };
    for (const mark of crossing) mark.classList.remove("shown");
    light(layer, head);
    tooltip.textContent = `layer ${layer} · head ${head}\nEnter opens this head`;
    place(left + head * pitch + thumb, top + layer * pitch + thumb / 2);
  }
  stage.addEventListener("focus", () => choose(focus?.layer ?? 0, focus?.head ?? 0));
  stage.addEventListener("blur", clear);
  stage.addEventListener("keydown", event => {
    const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
    if (moves[event.key] && focus) {
      const [dl, dh] = moves[event.key];
      choose(Math.min(layers - 1, Math.max(0, focus.layer + dl)), Math.min(heads - 1, Math.max(0, focus.head + dh)));
      event.preventDefault();
    } else if ((event.key === "Enter" || event.key === " ") && focus) {
      open(focus.layer, focus.head);
      event.preventDefault();
    }
  });
  canvas.dataset.drawn = "1";                       // every thumbnail painted (bench/new_tab.py waits for it)
}

// The colour key: a bar from 0 to zmax, or for log colours a strip on a log axis from floor × zmax to zmax
// with a tick at each power of ten (as viz.common.log_key draws it for the Plotly figure).
function drawGridKey(svg, data, x, top, height) {
  const id = `grid-key-${Math.random().toString(36).slice(2)}`;
  const gradient = svgNode("linearGradient", { id, x1: 0, y1: 1, x2: 0, y2: 0 });   // bottom = low
  const colour = colourScale(data.scale);
  const low = Math.log10(data.floor);
  const where = data.log ? (v => (Math.log10(v / data.zmax) - low) / -low) : (v => v / data.zmax);
  if (data.log) {
    for (let i = 0; i <= 60; i++) {
      const share = 10 ** (low + (-low * i) / 60);       // of zmax, floor … 1
      gradient.append(svgNode("stop", { offset: i / 60, "stop-color": colour(share) }));
    }
  } else {
    for (const [at, rgb] of data.scale) gradient.append(svgNode("stop", { offset: at, "stop-color": rgb }));
  }
  const definitions = svgNode("defs");
  definitions.append(gradient);
  svg.append(definitions, svgNode("rect", { x, y: top, width: 14, height, fill: `url(#${id})` }));
  let ticks;
  if (data.log) {
    ticks = [];
    for (let p = Math.ceil(Math.log10(data.zmax * data.floor) - 1e-9); p <= Math.log10(data.zmax) + 1e-9; p++) ticks.push(10 ** p);
    if (!ticks.length || Math.log10(data.zmax) - Math.log10(ticks[ticks.length - 1]) > 0.15) ticks.push(data.zmax);
  } else {
    ticks = roundTicks(data.zmax);
  }
  // "0.0 … 1.0" with one number of decimals on a bar; "0.001, 0.01, 0.1, 1" on the log strip, as Plotly writes them
  const decimals = Math.max(...ticks.map(decimalsOf), 1);
  const label = v => (data.log ? String(Number(v.toPrecision(3))) : v.toFixed(decimals));
  let lastY = Infinity;
  for (const v of ticks) {
    const y = top + height * (1 - where(v));
    if (lastY - y < 14) continue;                   // never two tick labels on each other
    lastY = y;
    svg.append(svgNode("line", { class: "key-tick", x1: x + 14, x2: x + 18, y1: y, y2: y }));
    svg.append(svgNode("text", { class: "key-label", x: x + 21, y, "dominant-baseline": "central", "font-size": 11 },
                       label(v)));
  }
  svg.append(svgNode("text", { class: "axis-title", x, y: top + height + 22 }, data.log ? "weight (log)" : "weight"));
}
