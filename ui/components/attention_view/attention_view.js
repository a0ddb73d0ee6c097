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
const ROW_MAX = 48;                // px: the tallest heatmap row

export default function render({ data, parentElement }) {
  observers.get(parentElement)?.disconnect();
  const root = parentElement.querySelector(".attention-view");
  let width = 0;
  const draw = () => {
    root.replaceChildren();
    for (const name of Object.keys(root.dataset)) delete root.dataset[name];
    root.dataset.mode = data.mode;
    if (data.tokens.length === 0) return;                 // the page says why; nothing to draw
    (data.mode === "lines" ? drawLines : drawHeatmap)(root, data, width);
  };
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
