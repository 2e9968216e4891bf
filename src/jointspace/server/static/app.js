// jointspace search page: plain DOM, no framework. Every value from the server goes in as text, never HTML.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("search-form"), q = $("q"), kSel = $("k"), where = $("where"), file = $("file"), drop = $("drop");
  const modeSel = $("mode");
  const statusEl = $("status"), results = $("results"), preview = $("query-preview"), template = $("card-template");
  let info = null, previewUrl = null, seq = 0;

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  }

  async function call(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      throw new Error("the server cannot be reached");
    }
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (!response.ok) {
      throw new Error((body && body.error) || ("request failed with status " + response.status));
    }
    return body;
  }

  function params() {
    const p = new URLSearchParams({ k: kSel.value });
    if (where.value.trim()) p.set("where", where.value.trim());
    return p;
  }

  function mediaElement(media) {
    if (media.kind === "image") {
      const img = document.createElement("img");
      img.src = media.url; img.loading = "lazy"; img.decoding = "async"; img.alt = media.field;
      return img;
    }
    const el = document.createElement(media.kind === "video" ? "video" : "audio");
    el.src = media.url; el.controls = true; el.preload = "none";
    return el;
  }

  function card(hit) {
    const node = template.content.firstElementChild.cloneNode(true);
    const box = node.querySelector(".media");
    const first = (hit.media || []).find((m) => m.kind === "image") || (hit.media || [])[0];
    (hit.media || []).forEach((m) => { if (m === first || m.kind !== "image") box.appendChild(mediaElement(m)); });
    node.querySelector(".score").textContent = hit.score.toFixed(3);
    const idEl = node.querySelector(".id");
    idEl.textContent = hit.id; idEl.title = hit.id;
    node.querySelector(".text").textContent = hit.text || "";
    const transcript = hit.fields && hit.fields.transcript;
    if (transcript) {
      const t = node.querySelector(".transcript");
      t.textContent = "“" + String(transcript) + "”"; t.hidden = false;
    }
    const explain = hit.explain;
    if (explain && (explain.lexical || explain.dense) && modeSel.value !== "dense") {
      const why = node.querySelector(".why");
      const parts = [];
      if (explain.dense) parts.push("meaning #" + explain.dense.rank);
      if (explain.lexical) parts.push("words #" + explain.lexical.rank + (explain.lexical.terms && explain.lexical.terms.length
        ? " (" + explain.lexical.terms.join(", ") + ")" : ""));
      why.textContent = parts.join(" · "); why.hidden = false;
    }
    node.querySelector(".more").addEventListener("click", () => similar(hit.id));
    node.dataset.id = hit.id;
    return node;
  }

  function show(out, label) {
    results.replaceChildren(...out.hits.map(card));
    const n = out.hits.length;
    setStatus(n ? `${n} result${n === 1 ? "" : "s"} ${label} · ${out.took_ms.toFixed(0)} ms` : `no results ${label}`);
  }

  function clearPreview() {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null; preview.hidden = true; preview.replaceChildren();
  }

  async function run(label, request) {
    const mine = ++seq;
    setStatus("searching…");
    try {
      const out = await request();
      if (mine === seq) show(out, label);
    } catch (err) {
      if (mine === seq) { results.replaceChildren(); setStatus(err.message, true); }
    }
  }

  function searchText(text) {
    clearPreview();
    const p = params(); p.set("q", text);
    if (modeSel.value !== "dense") { p.set("mode", modeSel.value); p.set("explain", "true"); }
    history.replaceState(null, "", "#" + new URLSearchParams({ q: text }).toString());
    return run(`for “${text}”`, () => call("/search?" + p.toString()));
  }

  function similar(id) {
    clearPreview();
    const p = params(); p.set("id", id);
    history.replaceState(null, "", "#" + new URLSearchParams({ similar: id }).toString());
    window.scrollTo({ top: 0 });
    return run(`like ${id}`, () => call("/similar?" + p.toString()));
  }

  function searchFile(f) {
    if (!f) return;
    if (info && f.size > info.max_upload_bytes) {
      setStatus(`${f.name} is larger than this server's limit of ${(info.max_upload_bytes / 1048576).toFixed(0)} MB`, true);
      return;
    }
    clearPreview();
    preview.hidden = false;
    if (f.type.startsWith("image/")) {
      previewUrl = URL.createObjectURL(f);
      const img = document.createElement("img"); img.src = previewUrl; img.alt = "query image";
      preview.appendChild(img);
    }
    const span = document.createElement("span"); span.textContent = "searching by " + f.name;
    preview.appendChild(span);
    const data = new FormData();
    data.append("file", f, f.name);
    data.append("k", kSel.value);
    if (where.value.trim()) data.append("where", where.value.trim());
    history.replaceState(null, "", "#");
    return run(`like ${f.name}`, () => call("/search/upload", { method: "POST", body: data }));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = q.value.trim();
    if (!text) { setStatus("type some words to search for", true); return; }
    searchText(text);
  });
  file.addEventListener("change", () => { searchFile(file.files[0]); file.value = ""; });
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (event) => {
    event.preventDefault(); drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => drop.addEventListener(name, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    searchFile(event.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") file.click(); });

  call("/info").then((facts) => {
    info = facts;
    const parts = [`${facts.count.toLocaleString()} items`, `encoder ${facts.encoder.name}`,
                   `search by ${facts.modalities.join(", ")}`, facts.writable ? "writable with token" : "read-only"];
    $("info").textContent = "jointspace " + facts.jointspace + " · " + parts.join(" · ");
    const accept = [];
    if (facts.modalities.includes("image")) accept.push("image/*");
    if (facts.modalities.includes("audio")) accept.push("audio/*");
    if (facts.modalities.includes("video")) accept.push("video/*");
    if (facts.modalities.includes("text")) accept.push("text/plain");
    file.accept = accept.join(",");
    const kinds = facts.modalities.filter((m) => m !== "text");
    drop.querySelector("span").textContent = kinds.length
      ? `Drop ${kinds.join(" or ")} file here, or choose one, to search by it`
      : "Drop a text file here, or choose one, to search by its words";
  }).catch((err) => setStatus(err.message, true));

  const start = new URLSearchParams(location.hash.slice(1));
  if (start.get("q")) { q.value = start.get("q"); searchText(start.get("q")); }
  else if (start.get("similar")) similar(start.get("similar"));
})();
