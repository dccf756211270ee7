// Renders /openapi.json into a readable reference. Served by Herald itself:
// no CDN, no fonts, no requests anywhere but this origin.
const root = document.getElementById("reference");

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) node.setAttribute(name, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function resolve(doc, schema) {
  let current = schema;
  for (let i = 0; current?.$ref && i < 20; i++) {
    const name = current.$ref.split("/").pop();
    current = doc.components?.schemas?.[name];
  }
  return current ?? {};
}

/** An example value for a schema: its own example, else one built from its parts. */
function sample(doc, schema, depth = 0) {
  const s = resolve(doc, schema);
  if (s.example !== undefined) return s.example;
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0];
  if (depth > 6) return null;
  const variants = s.anyOf ?? s.oneOf;
  if (variants) {
    const first = variants.map((v) => resolve(doc, v)).find((v) => v.type !== "null") ?? variants[0];
    return sample(doc, first, depth + 1);
  }
  if (s.enum) return s.enum[0];
  if (s.const !== undefined) return s.const;
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== "null") : s.type;
  if (type === "object" || s.properties) {
    const out = {};
    for (const [name, prop] of Object.entries(s.properties ?? {})) out[name] = sample(doc, prop, depth + 1);
    return out;
  }
  if (type === "array") return [sample(doc, s.items ?? {}, depth + 1)];
  if (type === "integer" || type === "number") return s.default ?? 0;
  if (type === "boolean") return s.default ?? false;
  if (type === "string") return s.default ?? (s.format === "date-time" ? "2026-11-30T12:00:00.000Z" : "string");
  return null;
}

function typeOf(doc, schema) {
  if (schema.$ref) return schema.$ref.split("/").pop();
  const s = schema;
  const variants = s.anyOf ?? s.oneOf;
  if (variants) return variants.map((v) => typeOf(doc, v)).join(" | ");
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.type === "array") return `${typeOf(doc, s.items ?? {})}[]`;
  return Array.isArray(s.type) ? s.type.join(" | ") : (s.type ?? "any");
}

function fieldTable(doc, schema) {
  const s = resolve(doc, schema);
  const props = Object.entries(s.properties ?? {});
  if (props.length === 0) return null;
  const required = new Set(s.required ?? []);
  return el(
    "table",
    {},
    el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "description")),
    props.map(([name, prop]) =>
      el(
        "tr",
        {},
        el("td", {}, el("code", {}, name), required.has(name) ? el("span", { class: "req" }, " required") : null),
        el("td", {}, el("code", {}, typeOf(doc, prop))),
        el("td", {}, resolve(doc, prop).description ?? ""),
      ),
    ),
  );
}

function json(value) {
  return el("pre", {}, el("code", {}, JSON.stringify(value, null, 2)));
}

function operation(doc, path, method, op) {
  const id = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, "-");
  const params = op.parameters ?? [];
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const section = el(
    "section",
    { id, class: "op" },
    el("h3", {}, el("span", { class: `method ${method}` }, method.toUpperCase()), " ", el("code", {}, path)),
    el("p", {}, op.summary ?? ""),
    op.description ? el("p", { class: "desc" }, op.description) : null,
    op.security?.length ? el("p", { class: "auth" }, "Authorization: Bearer <admin token or tenant API key>") : null,
  );
  if (params.length > 0) {
    section.append(
      el("h4", {}, "Parameters"),
      el(
        "table",
        {},
        el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description")),
        params.map((p) =>
          el(
            "tr",
            {},
            el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req" }, " required") : null),
            el("td", {}, p.in),
            el("td", {}, el("code", {}, typeOf(doc, p.schema ?? {}))),
            el("td", {}, p.description ?? p.schema?.description ?? ""),
          ),
        ),
      ),
    );
  }
  if (body) section.append(el("h4", {}, "Request body"), fieldTable(doc, body) ?? "", json(sample(doc, body)));
  section.append(el("h4", {}, "Responses"));
  for (const [status, response] of Object.entries(op.responses ?? {})) {
    const content = response.content ?? {};
    const [type] = Object.keys(content);
    const schema = type ? content[type].schema : undefined;
    const details = el("details", status.startsWith("2") ? { open: "" } : {}, el("summary", {}, `${status} ${response.description ?? ""}`));
    if (schema)
      details.append(
        type === "application/json" || type.endsWith("+json") ? json(sample(doc, schema)) : el("pre", {}, String(sample(doc, schema))),
      );
    section.append(details);
  }
  return section;
}

async function render() {
  const doc = await (await fetch("/openapi.json")).json();
  document.title = `${doc.info.title} ${doc.info.version}`;
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = op.tags?.[0] ?? "Other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push([path, method, op]);
    }
  }
  const nav = el(
    "nav",
    {},
    el("h1", {}, doc.info.title),
    el("p", { class: "version" }, `v${doc.info.version} · `, el("a", { href: "/openapi.json" }, "openapi.json")),
  );
  const main = el("main", {}, el("p", { class: "intro" }, doc.info.description ?? ""));
  for (const [tag, ops] of groups) {
    nav.append(el("h2", {}, tag));
    main.append(el("h2", { id: `tag-${tag}` }, tag));
    for (const [path, method, op] of ops) {
      const section = operation(doc, path, method, op);
      nav.append(
        el("a", { href: `#${section.id}` }, el("span", { class: `method ${method}` }, method.toUpperCase()), ` ${op.summary ?? path}`),
      );
      main.append(section);
    }
  }
  root.replaceChildren(nav, main);
}

render().catch((error) => {
  root.textContent = `Could not load /openapi.json: ${error}`;
});
