// Làng Số web chat. Who the visitor is lives in the server's HttpOnly session cookie (set when
// this page loads); the page keeps only the chosen language in localStorage.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var send = document.getElementById("send");

  function randomId() {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function store(key, value) { try { if (value === undefined) return localStorage.getItem(key); localStorage.setItem(key, value); } catch (e) { return null; } }

  function bubble(cls, text) {
    var div = document.createElement("div");
    div.className = "msg " + cls;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function showReply(r) {
    if ((r.buttons || []).some(function (b) { return b.payload.indexOf("/handoff") === 0; })) askForStaffReplies();
    var div = bubble("bot", r.text || "");
    if (r.photo) { var img = document.createElement("img"); img.src = "/media/" + r.photo.replace(/^media\//, ""); img.alt = ""; div.appendChild(img); }
    // A translator's recording (served at /voice/): played in the page, the text above it.
    if (r.voice && r.voice.indexOf("/voice/") === 0) { var au = document.createElement("audio"); au.controls = true; au.preload = "none"; au.src = r.voice; div.appendChild(document.createElement("br")); div.appendChild(au); r = Object.assign({}, r, { voice: null }); }
    ["voice", "document"].forEach(function (k) {
      if (r[k]) { var a = document.createElement("a"); a.href = r[k].indexOf("/exports/") === 0 ? r[k] : "/media/" + r[k].replace(/^media\//, ""); a.textContent = k === "voice" ? "▶ Nghe" : "Tải tệp"; div.appendChild(document.createElement("br")); div.appendChild(a); }
    });
    if (r.buttons && r.buttons.length) {
      var box = document.createElement("div");
      box.className = "buttons";
      r.buttons.forEach(function (b) {
        var btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.label;
        btn.addEventListener("click", function () { post({ payload: b.payload }, b.label); });
        box.appendChild(btn);
      });
      div.appendChild(box);
    }
    // Scroll once everything is in (buttons, a picture when it loads), not only the text.
    log.scrollTop = log.scrollHeight;
    div.querySelectorAll("img").forEach(function (img) {
      img.addEventListener("load", function () { log.scrollTop = log.scrollHeight; });
    });
  }

  function post(body, shown) {
    bubble("user", shown);
    body.message_id = randomId();
    var lang = store("langso.lang");
    if (lang) body.lang = lang;
    send.disabled = true;
    return fetch("/api/messages", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    })
      .then(function (resp) {
        return resp.json()
          .catch(function () { return {}; })
          .then(function (data) { return { ok: resp.ok, data: data }; });
      })
      .then(function (res) {
        if (!res.ok) { bubble("error", res.data.error || "Lỗi, xin thử lại."); return; }
        if (res.data.lang) store("langso.lang", res.data.lang);
        res.data.replies.forEach(showReply);
      })
      .catch(function () { bubble("error", "Mạng yếu, chưa gửi được. Xin thử lại."); })
      .then(function () { send.disabled = false; input.focus(); });
  }

  // A photo or an audio file: the file itself is the body, its type the Content-Type (the
  // server checks what it really is, removes the photo's EXIF and GPS, and answers as a turn).
  var attach = document.getElementById("attach");
  var picker = document.getElementById("file");
  function upload(file) {
    bubble("user", (file.type.indexOf("audio/") === 0 ? "\uD83C\uDFA4 " : "\uD83D\uDCF7 ") + file.name);
    var query = "?message_id=" + randomId();
    var lang = store("langso.lang");
    if (lang) query += "&lang=" + encodeURIComponent(lang);
    send.disabled = attach.disabled = true;
    return fetch("/api/uploads" + query, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream" },
      body: file
    })
      .then(function (resp) {
        return resp.json()
          .catch(function () { return {}; })
          .then(function (data) { return { ok: resp.ok, data: data }; });
      })
      .then(function (res) {
        if (!res.ok) { bubble("error", res.data.error || "Chưa gửi được tệp, xin thử lại."); return; }
        if (res.data.lang) store("langso.lang", res.data.lang);
        res.data.replies.forEach(showReply);
      })
      .catch(function () { bubble("error", "Mạng yếu, chưa gửi được ảnh. Xin thử lại."); })
      .then(function () { send.disabled = attach.disabled = false; });
  }
  if (attach && picker) {
    attach.addEventListener("click", function () { picker.click(); });
    picker.addEventListener("change", function () {
      var file = picker.files && picker.files[0];
      picker.value = "";
      if (file) upload(file);
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    post({ text: text }, text);
  });

  // Staff replies (a person answering from the dashboard) have no push here: the page asks for
  // them once on load and, once a conversation with staff began on the page, every 15 s.
  var asking = null;
  function staffReplies() {
    if (document.hidden) return;
    fetch("/api/handoff/replies", { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : { replies: [] }; })
      .then(function (data) { (data.replies || []).forEach(showReply); })
      .catch(function () {});
  }
  function askForStaffReplies() { if (!asking) asking = setInterval(staffReplies, 15000); }
  staffReplies();

  // A returning visitor who already chose a language gets the menu; a new one the welcome.
  if (store("langso.lang")) post({ payload: "/help" }, "Menu"); else post({ payload: "/start" }, "Bắt đầu");
})();
