import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "@herald/testing";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

// Every deployment and monitoring file in infra/ is checked here by the real tools, offline.

const INFRA = join(REPO_ROOT, "infra");

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(command, args, { cwd: INFRA, encoding: "utf8", env: { ...process.env, ...env } });
  if (result.error) throw new Error(`${command} is not installed (scripts/ensure-ops-tools.sh installs it): ${result.error.message}`);
  return result;
}

describe("Prometheus rules", () => {
  it("pass promtool check rules and their unit tests", () => {
    const checked = run("promtool", ["check", "rules", "prometheus/rules.yml"]);
    expect(checked.stdout + checked.stderr).toContain("SUCCESS");
    expect(checked.status).toBe(0);
    const tested = run("promtool", ["test", "rules", "prometheus/tests.yml"]);
    expect(tested.stdout + tested.stderr, tested.stdout + tested.stderr).toContain("SUCCESS");
    expect(tested.status).toBe(0);
  });
});

describe("docker-compose.yml", () => {
  it("is valid for docker-compose config", () => {
    const result = run("docker-compose", ["-f", "docker-compose.yml", "config", "--quiet"], { HERALD_ADMIN_TOKEN: "x".repeat(24) });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});

// ---- Kubernetes: a small renderer for the kustomize features the files use, and strict schema validation ----

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are read loosely; the schemas above have checked them.
type Loose = Record<string, any>;
type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown };

function readYaml(path: string): Doc[] {
  return parseAllDocuments(readFileSync(path, "utf8")).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Doc;
  });
}

/** Strategic merge as kubectl applies it: maps merge; containers and env merge by name in built-in kinds; other lists are replaced. */
function merge(base: unknown, patch: unknown, key = "", builtIn = true): unknown {
  if (Array.isArray(base) && Array.isArray(patch) && builtIn && ["containers", "env", "ports"].includes(key)) {
    const merged = [...base] as { name: string }[];
    for (const item of patch as { name: string }[]) {
      const at = merged.findIndex((existing) => existing.name === item.name);
      if (at >= 0) merged[at] = merge(merged[at], item, "", builtIn) as { name: string };
      else merged.push(item);
    }
    return merged;
  }
  if (base && patch && typeof base === "object" && typeof patch === "object" && !Array.isArray(base) && !Array.isArray(patch)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(patch)) out[k] = k in out ? merge(out[k], v, k, builtIn) : v;
    return out;
  }
  return patch;
}

interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { path: string }[];
}

function render(dir: string): Doc[] {
  const known = new Set(["apiVersion", "kind", "resources", "namespace", "images", "patches"]);
  const [kustomization] = readYaml(join(dir, "kustomization.yaml")) as unknown as Kustomization[];
  if (!kustomization) throw new Error(`${dir}: empty kustomization.yaml`);
  const unknown = Object.keys(kustomization).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new Error(`${dir}/kustomization.yaml uses ${unknown.join(", ")}, which this check does not render`);
  let docs = (kustomization.resources ?? []).flatMap((resource) => {
    const path = join(dir, resource);
    return statSync(path).isDirectory() ? render(path) : readYaml(path);
  });
  for (const { path } of kustomization.patches ?? []) {
    for (const patch of readYaml(join(dir, path))) {
      const at = docs.findIndex((doc) => doc.kind === patch.kind && doc.metadata.name === patch.metadata.name);
      if (at < 0) throw new Error(`${dir}/${path}: no ${patch.kind} ${patch.metadata.name} to patch`);
      docs[at] = merge(docs[at], patch, "", !patch.apiVersion.includes(".")) as Doc;
    }
  }
  for (const image of kustomization.images ?? []) {
    for (const doc of docs) {
      const spec = (doc.spec as { template?: { spec?: { containers?: { image: string }[] } } } | undefined)?.template?.spec;
      for (const container of spec?.containers ?? []) {
        const [name, tag] = container.image.split(":");
        if (name === image.name) container.image = `${image.newName ?? name}:${image.newTag ?? tag}`;
      }
    }
  }
  if (kustomization.namespace) docs = docs.map((doc) => ({ ...doc, metadata: { ...doc.metadata, namespace: kustomization.namespace } }));
  return docs;
}

const MODELS: Record<string, { prototype: { validate(): void } }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
};

/**
 * Validates against the Kubernetes (or KEDA) JSON schema, and also fails on fields the schema does not know:
 * the schemas allow any extra field, so a misspelt `terminationGracePeriodSecond` would pass them. The object is
 * validated through proxies that note every field the schema's validator reads; a field it never read is unknown.
 */
function validateStrictly(doc: Doc): string[] {
  const model = MODELS[`${doc.apiVersion}/${doc.kind}`];
  if (!model) return [`${doc.kind} ${doc.metadata?.name}: no schema for ${doc.apiVersion} ${doc.kind}`];
  const objects: { path: string; keys: string[]; read: Set<string> }[] = [];
  const track = (value: unknown, path: string): unknown => {
    if (Array.isArray(value)) return value.map((item, i) => track(item, `${path}[${i}]`));
    if (!value || typeof value !== "object") return value;
    const read = new Set<string>();
    const target = Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, track(inner, `${path}.${key}`)]));
    objects.push({ path, keys: Object.keys(value), read });
    return new Proxy(target, {
      get(object, key, receiver) {
        if (typeof key === "string") read.add(key);
        return Reflect.get(object, key, receiver);
      },
      // Maps (labels, data, env of a ConfigMap…) are read by enumerating them: every key is then known.
      ownKeys(object) {
        for (const key of Reflect.ownKeys(object)) if (typeof key === "string") read.add(key);
        return Reflect.ownKeys(object);
      },
    });
  };
  const { apiVersion, kind, ...rest } = doc;
  const tracked = { apiVersion, kind, ...(track(rest, "") as object) };
  try {
    model.prototype.validate.call(tracked);
  } catch (error) {
    return [`${kind} ${doc.metadata.name}: ${(error as Error).message}`];
  }
  return objects
    .filter((object) => object.path !== "")
    .flatMap((object) =>
      object.keys
        .filter((key) => !object.read.has(key))
        .map((key) => `${kind} ${doc.metadata.name}: unknown field ${object.path.slice(1)}.${key}`),
    );
}

const K8S = join(INFRA, "k8s");
const overlays = readdirSync(join(K8S, "overlays")).filter((name) => existsSync(join(K8S, "overlays", name, "kustomization.yaml")));

describe("Kubernetes manifests", () => {
  it("every manifest under infra/k8s validates against the Kubernetes and KEDA schemas, unknown fields included", () => {
    const all = readdirSync(K8S, { recursive: true, encoding: "utf8" });
    // Patches are partial by design: they are checked once rendered into their overlay, below.
    const patches = new Set(
      all
        .filter((file) => file.endsWith("kustomization.yaml"))
        .flatMap((file) =>
          ((readYaml(join(K8S, file))[0] as Kustomization | undefined)?.patches ?? []).map((p) => join(dirname(file), p.path)),
        ),
    );
    const files = all.filter((file) => file.endsWith(".yaml") && !file.endsWith("kustomization.yaml") && !patches.has(file));
    expect(files.length).toBeGreaterThan(5);
    expect(patches.size).toBeGreaterThan(0);
    const problems = files.flatMap((file) =>
      readYaml(join(K8S, file)).flatMap((doc) => validateStrictly(doc).map((problem) => `${file}: ${problem}`)),
    );
    expect(problems).toEqual([]);
  });

  it("a misspelt or mistyped field fails the check", () => {
    const [worker] = render(join(K8S, "base")).filter((doc) => doc.kind === "Deployment" && doc.metadata.name === "herald-worker");
    const typo = merge(worker, { spec: { template: { spec: { terminationGracePeriodSecond: 60 } } } }) as Doc;
    expect(validateStrictly(typo)).toEqual(["Deployment herald-worker: unknown field spec.template.spec.terminationGracePeriodSecond"]);
    const wrongType = merge(worker, { spec: { template: { spec: { terminationGracePeriodSeconds: "60" } } } }) as Doc;
    expect(validateStrictly(wrongType).join()).toContain("must be integer");
  });

  it.each(["base", ...overlays.map((name) => `overlays/${name}`)])("%s renders to a valid, consistent set", (dir) => {
    const docs = render(join(K8S, dir));
    expect(docs.flatMap(validateStrictly)).toEqual([]);
    const find = (kind: string, name: string) => {
      const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
      expect(doc, `${kind} ${name}`).toBeDefined();
      return doc as Doc & { spec: Loose };
    };
    const config = find("ConfigMap", "herald-config") as unknown as { data: Record<string, string> };
    const api = find("Deployment", "herald-api");
    const worker = find("Deployment", "herald-worker");
    find("Job", "herald-migrate");

    // Labels tie the Service and the budgets to their pods.
    const labelsOf = (deployment: typeof api) => deployment.spec.template.metadata.labels as Record<string, string>;
    expect(labelsOf(api)).toMatchObject(find("Service", "herald-api").spec.selector);
    expect(labelsOf(api)).toMatchObject(find("PodDisruptionBudget", "herald-api").spec.selector.matchLabels);
    expect(labelsOf(worker)).toMatchObject(find("PodDisruptionBudget", "herald-worker").spec.selector.matchLabels);

    // Probes: the API's readiness on /readyz and liveness on /healthz; the worker's on its health port.
    const [apiContainer] = api.spec.template.spec.containers;
    expect(apiContainer.readinessProbe.httpGet.path).toBe("/readyz");
    expect(apiContainer.livenessProbe.httpGet.path).toBe("/healthz");
    const [workerContainer] = worker.spec.template.spec.containers;
    expect(workerContainer.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(workerContainer.ports).toContainEqual({
      name: "metrics",
      containerPort: Number(workerContainer.env.find((e: { name: string }) => e.name === "HERALD_METRICS_PORT").value),
    });
    for (const container of [apiContainer, workerContainer]) expect(container.resources.requests.memory).toMatch(/^\d+Mi$/);

    // A worker is killed only after its shutdown timeout, plus the last records, has passed.
    const shutdownSeconds = Number.parseInt(config.data.HERALD_SHUTDOWN_TIMEOUT ?? "30s", 10);
    expect(worker.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(shutdownSeconds + 15);

    // KEDA owns the worker's replica count and reads Herald's metrics.
    expect(worker.spec.replicas).toBeUndefined();
    const scaled = find("ScaledObject", "herald-worker");
    expect(scaled.spec.scaleTargetRef.name).toBe("herald-worker");
    const queries = (scaled.spec.triggers as { type: string; metadata: { query: string } }[]).map((t) => `${t.type}: ${t.metadata.query}`);
    expect(queries.join("\n")).toMatch(/prometheus: .*herald_queue_jobs/);
    expect(queries.join("\n")).toMatch(/prometheus: .*herald_oldest_pending_delivery_age_seconds/);
  });
});
