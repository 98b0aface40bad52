// The console's few moving parts: live polling, latency charts (uPlot), the waveform.
// Plain browser JavaScript, no build step; everything comes from this server.
"use strict";

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}

async function getJSON(url) {
  const reply = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!reply.ok) throw new Error(url + ": " + reply.status);
  return reply.json();
}

// --- Live: poll /live.json every second and redraw the table ------------------------
function startLive(table) {
  const body = table.querySelector("tbody");
  const count = document.getElementById("live-count");
  async function tick() {
    try {
      const calls = await getJSON(table.dataset.src);
      body.replaceChildren();
      if (!calls.length) {
        const row = document.createElement("tr");
        row.className = "none";
        const cell = text("td", "No call in progress.", "empty");
        cell.colSpan = 7;
        row.append(cell);
        body.append(row);
      }
      for (const c of calls) {
        const row = document.createElement("tr");
        row.dataset.uuid = c.uuid;
        const link = document.createElement("a");
        link.href = "/calls/" + c.uuid;
        link.textContent = c.uuid.slice(0, 8);
        const first = document.createElement("td");
        first.append(link);
        row.append(first, text("td", c.host), text("td", c.company), text("td", c.caller),
          text("td", c.seconds + " s", "n"), text("td", String(c.turns), "n"),
          text("td", c.agent_said || c.caller_said || "greeting"));
        body.append(row);
      }
      count.textContent = String(calls.length);
      table.dataset.updated = String(Date.now());
    } catch (err) {
      count.textContent = "?";
    }
    setTimeout(tick, 1000);
  }
  tick();
}

// --- Latency: one uPlot chart per stage, p50 and p95 ---------------------------------
async function startLatency(box) {
  const data = await getJSON(box.dataset.src);
  const summary = box.querySelector("#latency-summary tbody");
  for (const [stage, s] of Object.entries(data.summary)) {
    const row = document.createElement("tr");
    row.append(text("td", stage.replaceAll("_", " ")), text("td", String(s.p50), "n"),
      text("td", String(s.p95), "n"), text("td", String(s.n), "n"));
    summary.append(row);
  }
  if (!Object.keys(data.summary).length) {
    const row = document.createElement("tr");
    const cell = text("td", "No turns in this range.", "empty");
    cell.colSpan = 4;
    row.append(cell);
    summary.append(row);
  }
  for (const chart of box.querySelectorAll(".chart")) {
    const stage = chart.id.replace("chart-", "");
    const series = data.series[stage];
    chart.append(text("h3", chart.dataset.title));
    const opts = {
      width: Math.max(300, chart.clientWidth - 16), height: 180,
      series: [{}, { label: "p50 ms", stroke: "#2f6fde", width: 2, spanGaps: false },
               { label: "p95 ms", stroke: "#e0833a", width: 2, spanGaps: false }],
      axes: [{}, { label: "ms", size: 60 }],
      scales: { y: { range: (u, min, max) => [0, Math.max(100, max || 0) * 1.1] } },
    };
    new uPlot(opts, [data.t, series.p50, series.p95], chart);
  }
  box.dataset.drawn = "1";
}

// --- Waveform: min/max peaks of both channels; click to seek -------------------------
async function startWaveform(canvas) {
  const data = await getJSON(canvas.dataset.src);
  const ctx = canvas.getContext("2d");
  const lanes = data.channels.length;
  const h = canvas.height / lanes;
  const colours = ["#5b8def", "#2fa37a"];
  data.channels.forEach((peaks, lane) => {
    const mid = h * lane + h / 2;
    const step = canvas.width / peaks.length;
    ctx.fillStyle = colours[lane % colours.length];
    peaks.forEach(([lo, hi], i) => {
      const top = mid - hi * (h / 2), bottom = mid - lo * (h / 2);
      ctx.fillRect(i * step, top, Math.max(1, step), Math.max(1, bottom - top));
    });
  });
  const player = document.getElementById("player");
  canvas.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    player.currentTime = ((event.clientX - box.left) / box.width) * data.seconds;
    player.play();
  });
  canvas.dataset.drawn = "1";
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("live");
  if (live) startLive(live);
  const latency = document.getElementById("latency");
  if (latency) startLatency(latency);
  const waveform = document.getElementById("waveform");
  if (waveform) startWaveform(waveform);
});
