// leobatch report: keyboard navigation between cells, a full-size viewer, copy buttons.
// Everything user-written (prompts, values, commands) is read and written with textContent,
// never innerHTML: a prompt is text, whatever it contains.
(function () {
  "use strict";
  const cells = Array.from(document.querySelectorAll(".cell"));
  const viewer = document.getElementById("viewer");
  const vMedia = viewer.querySelector(".v-media");
  let current = -1;

  function centre(el) {
    const r = el.getBoundingClientRect();
    return [r.left + r.width / 2, r.top + r.height / 2];
  }

  function focusCell(i) {
    if (i < 0 || i >= cells.length) return;
    current = i;
    cells[i].focus({ preventScroll: true });
    cells[i].scrollIntoView({ block: "nearest", inline: "nearest" });
    if (!viewer.hidden) show(i);
  }

  // Up and down: the nearest cell in that direction (cells wrap inside a slot, rows differ in
  // height); left and right: document order, which runs along a row and on to the next one.
  function vertical(i, dir) {
    const [x, y] = centre(cells[i]);
    let best = -1, bestScore = Infinity;
    cells.forEach(function (c, j) {
      if (j === i) return;
      const [cx, cy] = centre(c);
      const along = (cy - y) * dir;
      if (along <= 4) return;
      const score = along + 3 * Math.abs(cx - x);
      if (score < bestScore) { bestScore = score; best = j; }
    });
    return best;
  }

  function show(i) {
    const cell = cells[i];
    current = i;
    vMedia.replaceChildren();
    const full = cell.dataset.full, media = cell.dataset.media;
    if (media === "video") {
      const v = document.createElement("video");
      v.src = full; v.controls = true; v.autoplay = true; v.loop = true; v.muted = true;
      vMedia.appendChild(v);
    } else if (media === "image") {
      const img = document.createElement("img");
      img.src = full; img.alt = "";
      vMedia.appendChild(img);
    } else {
      const p = document.createElement("p");
      const msg = cell.querySelector(".status-msg");
      p.textContent = msg ? msg.textContent : "no file";
      vMedia.appendChild(p);
    }
    const vals = Array.from(cell.querySelectorAll(".val")).map(function (v) { return v.textContent; });
    const credits = cell.querySelector(".credits");
    viewer.querySelector(".v-title").textContent =
      vals.join(" · ") + (credits ? "  —  " + credits.textContent : "");
    const prompt = cell.querySelector(".prompt");
    viewer.querySelector(".v-prompt").textContent = prompt ? prompt.textContent : "";
    const cmd = cell.querySelector(".cmd code");
    viewer.querySelector(".v-cmd").textContent = cmd ? cmd.textContent : "";
    const open = viewer.querySelector(".v-open");
    if (full) { open.href = full; open.hidden = false; } else { open.hidden = true; }
    viewer.hidden = false;
  }

  function close() {
    viewer.hidden = true;
    vMedia.replaceChildren();
    if (current >= 0) cells[current].focus({ preventScroll: true });
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const active = cells.indexOf(document.activeElement);
    const i = active >= 0 ? active : current;
    if (!viewer.hidden) {
      if (e.key === "Escape") { close(); e.preventDefault(); }
      else if (e.key === "ArrowRight") { focusCell(Math.min(i + 1, cells.length - 1)); e.preventDefault(); }
      else if (e.key === "ArrowLeft") { focusCell(Math.max(i - 1, 0)); e.preventDefault(); }
      return;
    }
    if (e.target instanceof HTMLElement && e.target.closest("summary, button, input, video, a:not(.media)")) return;
    if (["ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp"].includes(e.key)) {
      e.preventDefault();
      if (i < 0) { focusCell(0); return; }
      if (e.key === "ArrowRight") focusCell(i + 1);
      else if (e.key === "ArrowLeft") focusCell(i - 1);
      else focusCell(vertical(i, e.key === "ArrowDown" ? 1 : -1));
    } else if (e.key === "Enter" && active >= 0) {
      e.preventDefault();
      show(active);
    }
  });

  cells.forEach(function (cell, i) {
    cell.addEventListener("focus", function () { current = i; });
    const play = cell.querySelector("button.play");
    if (play) {
      // Play inline: the poster gives way to the video itself, with its controls.
      play.addEventListener("click", function (e) {
        e.preventDefault();
        e.stopPropagation();
        const box = play.parentElement;
        const v = document.createElement("video");
        v.src = cell.dataset.full; v.poster = box.querySelector("img").src;
        v.controls = true; v.autoplay = true; v.loop = true; v.muted = true; v.playsInline = true;
        const holder = document.createElement("div");
        holder.className = "media video";
        holder.appendChild(v);
        box.replaceWith(holder);
      });
    }
    const link = cell.querySelector("a.media");
    if (link) {
      link.addEventListener("click", function (e) {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        show(i);
      });
    }
  });

  viewer.querySelector(".v-close").addEventListener("click", close);
  viewer.querySelector(".v-prev").addEventListener("click", function () { focusCell(Math.max(current - 1, 0)); });
  viewer.querySelector(".v-next").addEventListener("click", function () { focusCell(Math.min(current + 1, cells.length - 1)); });
  viewer.addEventListener("click", function (e) { if (e.target === viewer || e.target === vMedia) close(); });

  document.querySelectorAll("button.copy").forEach(function (button) {
    button.addEventListener("click", function () {
      const code = button.parentElement.querySelector("code");
      const text = code ? code.textContent : "";
      const done = function () { button.textContent = "copied"; setTimeout(function () { button.textContent = "copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(code); });
      } else {
        select(code);
      }
    });
  });

  function select(node) {
    if (!node) return;
    const range = document.createRange();
    range.selectNodeContents(node);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
})();
