// The studio's API reference, drawn from its own /openapi.json (no CDN: it works offline).
"use strict";

const node = (tag, text, cls) => {
  const n = document.createElement(tag);
  if (text !== undefined) n.textContent = text;
  if (cls) n.className = cls;
  return n;
};

// A schema in a few words: "integer 1..16 = 1", "string (pattern)", "Request", "list of ...".
function typeOf(schema, spec) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, spec)).filter((t) => t !== "null").join(" or ") + (schema.anyOf.some((s) => s.type === "null") ? " (optional)" : "");
  if (schema.type === "array") return `list of ${typeOf(schema.items, spec)}`;
  let text = schema.type || "object";
  const lo = schema.minimum ?? schema.exclusiveMinimum, hi = schema.maximum ?? schema.exclusiveMaximum;
  if (lo !== undefined || hi !== undefined) text += ` ${lo ?? ""}..${hi ?? ""}`;
  if (schema.maxLength) text += ` (at most ${schema.maxLength} characters)`;
  if (schema.enum) text += ` one of ${schema.enum.join(", ")}`;
  return text;
}

function fields(schema, spec) {
  const name = schema && schema.$ref ? schema.$ref.split("/").pop() : null;
  const model = name ? spec.components.schemas[name] : schema;
  if (!model || !model.properties) return null;
  const table = node("table");
  const required = new Set(model.required || []);
  for (const [key, prop] of Object.entries(model.properties)) {
    const row = table.insertRow();
    row.insertCell().textContent = key + (required.has(key) ? " *" : "");
    row.insertCell().textContent = typeOf(prop, spec) + (prop.default !== undefined && prop.default !== null ? ` = ${JSON.stringify(prop.default)}` : "");
  }
  const box = node("div");
  box.append(node("div", `${name || "body"}${model.description ? ": " + model.description : ""}`, "muted small"), table);
  return box;
}

async function draw() {
  const headers = {};
  const token = sessionStorage.getItem("huashi_token");
  if (token) headers["X-Huashi-Token"] = token;
  const response = await fetch("/openapi.json", { headers });
  if (!response.ok) throw new Error(`openapi.json: ${response.status} (open the studio's page first: it keeps the token)`);
  const spec = await response.json();
  document.title = `${spec.info.title} ${spec.info.version} · API`;
  const list = document.getElementById("endpoints");
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const box = node("div", undefined, "endpoint");
      box.dataset.path = path;
      const head = node("h3");
      head.append(node("span", method.toUpperCase(), "method"), path);
      box.append(head, node("div", op.summary || ""));
      const params = (op.parameters || []).map((p) => `${p.name} (${p.in}${p.required ? ", required" : ""}): ${typeOf(p.schema, spec)}`);
      if (params.length) box.append(node("div", params.join(" · "), "muted small"));
      const body = op.requestBody && op.requestBody.content;
      const json = body && body["application/json"];
      if (json) { const f = fields(json.schema, spec); if (f) box.append(f); }
      else if (body) box.append(node("div", `body: ${Object.keys(body).join(", ")}`, "muted small"));
      list.append(box);
    }
  }
  document.body.dataset.ready = "1";
}

draw().catch((err) => { document.getElementById("intro").textContent = err.message; });
