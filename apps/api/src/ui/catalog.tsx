/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { type EventType, eventTypeCreateSchema, eventTypeUpdateSchema } from "@herald/schema";
import type { Context, Hono } from "hono";
import { callerError, type FieldError } from "../errors.ts";
import { createEventType, getEventType, listEventTypes, updateEventType } from "../services/event-types.ts";
import { errorsByField } from "./endpoint-form-input.ts";
import { type FormBody, field, type UiEnv } from "./env.ts";
import { prettyJson } from "./format.ts";
import { CsrfField, FieldErrors, Flash, Layout, type PageContext } from "./layout.tsx";
import { flashOf, pageContext, render } from "./render.tsx";

interface TypeValues {
  name: string;
  description: string;
  example: string;
  archived: boolean;
}

function TypeForm({
  csrf,
  action,
  values,
  errors,
  formError,
  creating,
}: {
  csrf: string;
  action: string;
  values: TypeValues;
  errors: Record<string, string[]>;
  formError?: string | undefined;
  creating: boolean;
}) {
  return (
    <form method="post" action={action} class="panel" novalidate>
      <CsrfField csrf={csrf} />
      {formError && <Flash kind="bad">{formError}</Flash>}
      {creating && (
        <div class="field">
          <label for="type-name">Name</label>
          <input
            type="text"
            id="type-name"
            name="name"
            value={values.name}
            placeholder="payment.received"
            aria-invalid={errors.name ? "true" : undefined}
            aria-describedby="type-name-error"
          />
          <FieldErrors id="type-name-error" messages={errors.name} />
        </div>
      )}
      <div class="field">
        <label for="type-description">Description</label>
        <input
          type="text"
          id="type-description"
          name="description"
          value={values.description}
          aria-invalid={errors.description ? "true" : undefined}
          aria-describedby="type-description-error"
        />
        <FieldErrors id="type-description-error" messages={errors.description} />
      </div>
      <div class="field">
        <label for="type-example">Example payload (JSON)</label>
        <textarea
          id="type-example"
          name="example"
          rows={6}
          aria-invalid={errors.example ? "true" : undefined}
          aria-describedby="type-example-error"
        >
          {values.example}
        </textarea>
        <FieldErrors id="type-example-error" messages={errors.example} />
      </div>
      {!creating && (
        <div class="field">
          <label>
            <input type="checkbox" name="archived" value="true" checked={values.archived} /> Archived (hidden from new subscriptions and
            publishing)
          </label>
        </div>
      )}
      <button type="submit">{creating ? "Add event type" : "Save event type"}</button>
    </form>
  );
}

function CatalogPage({
  page,
  types,
  flash,
  form,
}: {
  page: PageContext;
  types: EventType[];
  flash?: string | undefined;
  form?: { values: TypeValues; errors: Record<string, string[]>; formError?: string | undefined } | undefined;
}) {
  const isAdmin = page.session.kind === "admin";
  return (
    <Layout page={page} title="Event catalog" section="catalog">
      <h1>Event catalog</h1>
      <p class="muted">Every event a webhook can subscribe to, with the payload it carries as data.</p>
      {flash && <Flash kind="ok">{flash}</Flash>}
      <div class="panel catalog">
        {types.length === 0 && <p>The catalog is empty.</p>}
        {types.map((type) => (
          <article aria-labelledby={`type-${type.name}`}>
            <div class="spread">
              <h2 id={`type-${type.name}`}>
                <code>{type.name}</code> {type.archived && <span class="badge">archived</span>}
              </h2>
              {isAdmin && (
                <a class="button secondary" href={`/ui/catalog/${encodeURIComponent(type.name)}/edit`} aria-label={`Edit ${type.name}`}>
                  Edit
                </a>
              )}
            </div>
            <p>{type.description || <span class="muted">No description.</span>}</p>
            <pre>{prettyJson(type.example)}</pre>
          </article>
        ))}
      </div>
      {isAdmin && (
        <section aria-labelledby="add-type">
          <h2 id="add-type">Add an event type</h2>
          <TypeForm
            csrf={page.csrf}
            action="/ui/catalog"
            values={form?.values ?? { name: "", description: "", example: "{}", archived: false }}
            errors={form?.errors ?? {}}
            formError={form?.formError}
            creating
          />
        </section>
      )}
    </Layout>
  );
}

function typeValues(form: FormBody): TypeValues {
  return {
    name: field(form, "name").trim(),
    description: field(form, "description"),
    example: field(form, "example"),
    archived: field(form, "archived") === "true",
  };
}

/** The example textarea as JSON; a syntax error is a field error like any other. */
function parseExample(text: string, errors: FieldError[]): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    errors.push({ path: "example", message: `is not valid JSON (${(error as Error).message})` });
    return undefined;
  }
}

function problemOf(raw: unknown): { errors: Record<string, string[]>; formError?: string } {
  const error = callerError(raw);
  if (!error || error.status === 401 || error.status === 404) throw raw;
  return error.errors?.length ? { errors: errorsByField(error.errors) } : { errors: {}, formError: error.detail };
}

async function allTypes(c: Context<UiEnv>) {
  return (await listEventTypes(c.var.ctx, { limit: 250, includeArchived: c.var.session.kind === "admin" })).rows;
}

export function catalogRoutes(ui: Hono<UiEnv>) {
  const show = async (c: Context<UiEnv>) => render(c, <CatalogPage page={pageContext(c)} types={await allTypes(c)} flash={flashOf(c)} />);
  ui.get("/catalog", show);
  ui.get("/t/:tenant/catalog", show);

  ui.post("/catalog", async (c) => {
    const values = typeValues(c.var.form);
    const errors: FieldError[] = [];
    const example = parseExample(values.example, errors);
    const parsed = eventTypeCreateSchema.safeParse({ name: values.name, description: values.description, example });
    if (!parsed.success) errors.push(...parsed.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })));
    let problem: { errors: Record<string, string[]>; formError?: string } = { errors: errorsByField(errors) };
    if (parsed.success && errors.length === 0) {
      try {
        await createEventType(c.var.ctx, parsed.data);
        return c.redirect("/ui/catalog?flash=type-created", 303);
      } catch (error) {
        problem = problemOf(error);
      }
    }
    return render(c, <CatalogPage page={pageContext(c)} types={await allTypes(c)} form={{ values, ...problem }} />, 422);
  });

  const editPage = (
    c: Context<UiEnv>,
    type: EventType,
    values: TypeValues,
    problem: { errors: Record<string, string[]>; formError?: string },
  ) => (
    <Layout page={pageContext(c)} title={`Edit ${type.name}`} section="catalog">
      <p>
        <a href="/ui/catalog">← Event catalog</a>
      </p>
      <h1>
        Edit <code>{type.name}</code>
      </h1>
      <TypeForm
        csrf={c.var.csrf}
        action={`/ui/catalog/${encodeURIComponent(type.name)}`}
        values={values}
        errors={problem.errors}
        formError={problem.formError}
        creating={false}
      />
    </Layout>
  );

  ui.get("/catalog/:name/edit", async (c) => {
    const type = await getEventType(c.var.ctx, c.req.param("name"));
    const values = { name: type.name, description: type.description, example: prettyJson(type.example), archived: type.archived };
    return render(c, editPage(c, type, values, { errors: {} }));
  });

  ui.post("/catalog/:name", async (c) => {
    const type = await getEventType(c.var.ctx, c.req.param("name"));
    const values = { ...typeValues(c.var.form), name: type.name };
    const errors: FieldError[] = [];
    const example = parseExample(values.example, errors);
    const parsed = eventTypeUpdateSchema.safeParse({
      description: values.description,
      example: example ?? null,
      archived: values.archived,
    });
    if (!parsed.success) errors.push(...parsed.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })));
    let problem: { errors: Record<string, string[]>; formError?: string } = { errors: errorsByField(errors) };
    if (parsed.success && errors.length === 0) {
      try {
        await updateEventType(c.var.ctx, type.name, parsed.data);
        return c.redirect("/ui/catalog?flash=type-saved", 303);
      } catch (error) {
        problem = problemOf(error);
      }
    }
    return render(c, editPage(c, type, values, problem), 422);
  });
}
