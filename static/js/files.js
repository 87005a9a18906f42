// The files panel (templates/attachments/_panel.html): drop files onto it or choose them, and they
// upload at once with a progress bar; the server answers with the panel, which replaces this one.
// Without JavaScript the same form posts and the page reloads.
(function () {
  "use strict";

  function formOf(target) {
    return target && target.closest ? target.closest("form[data-files-upload]") : null;
  }

  function say(form, text, isError) {
    const status = form.querySelector("[data-files-status]");
    status.textContent = text;
    status.classList.toggle("text-danger", Boolean(isError));
  }

  // The limits are checked again by the server; here they save sending what it would refuse.
  function refusal(form, files) {
    const data = form.dataset;
    if (files.length > Number(data.maxCount)) return data.msgCount;
    let total = 0;
    for (const file of files) {
      if (file.size > Number(data.maxFile)) return data.msgFile.replace("{name}", file.name);
      total += file.size;
    }
    if (total > Number(data.maxUpload)) return data.msgUpload;
    return "";
  }

  function swapPanel(form, html) {
    const panel = form.closest("[data-files-panel]");
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const fresh = holder.querySelector("[data-files-panel]");
    if (!panel || !fresh) return false;
    panel.replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh);
    return true;
  }

  function upload(form, files) {
    if (!files || !files.length) return;
    const problem = refusal(form, files);
    if (problem) {
      say(form, problem, true);
      return;
    }
    const body = new FormData();
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    for (const file of files) body.append("files", file, file.name);
    const progress = form.querySelector("[data-files-progress]");
    const button = form.querySelector("[data-files-submit]");
    progress.hidden = false;
    progress.value = 0;
    button.disabled = true;
    form.classList.add("is-uploading");
    say(form, form.dataset.msgUploading, false);

    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("HX-Request", "true");
    request.setRequestHeader("X-CSRFToken", body.get("csrfmiddlewaretoken"));
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
    });
    request.addEventListener("load", () => {
      const html = request.getResponseHeader("Content-Type") || "";
      if (html.startsWith("text/html") && swapPanel(form, request.responseText)) return;
      done(form, form.dataset.msgFailed);
    });
    request.addEventListener("error", () => done(form, form.dataset.msgFailed));
    request.send(body);
  }

  function done(form, message) {
    form.querySelector("[data-files-progress]").hidden = true;
    form.querySelector("[data-files-submit]").disabled = false;
    form.classList.remove("is-uploading");
    say(form, message, true);
  }

  document.addEventListener("submit", (event) => {
    const form = formOf(event.target);
    if (!form || form !== event.target) return;
    event.preventDefault();
    upload(form, form.querySelector("input[type=file]").files);
  });

  document.addEventListener("change", (event) => {
    const form = formOf(event.target);
    if (form && event.target.type === "file") upload(form, event.target.files);
  });

  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (event) => {
      const form = formOf(event.target);
      if (!form) return;
      event.preventDefault();
      form.classList.add("is-dragover");
    });
  }
  document.addEventListener("dragleave", (event) => {
    const form = formOf(event.target);
    if (form && !form.contains(event.relatedTarget)) form.classList.remove("is-dragover");
  });
  document.addEventListener("drop", (event) => {
    const form = formOf(event.target);
    if (!form) return;
    event.preventDefault();
    form.classList.remove("is-dragover");
    upload(form, event.dataTransfer.files);
  });
})();
