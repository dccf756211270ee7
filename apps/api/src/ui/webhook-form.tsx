/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { EventType } from "@herald/schema";
import { ALL_EVENTS, type EndpointFormValues } from "./endpoint-form-input.ts";
import { CsrfField, FieldErrors, Flash } from "./layout.tsx";

function described(hint: string, error: string, hasError: boolean): string {
  return hasError ? `${hint} ${error}` : hint;
}

/** Add and Edit share one form; every field shows the API's own error message beside it. */
export function WebhookForm({
  csrf,
  action,
  submitLabel,
  values,
  errors,
  formError,
  catalog,
}: {
  csrf: string;
  action: string;
  submitLabel: string;
  values: EndpointFormValues;
  errors: Record<string, string[]>;
  formError?: string | undefined;
  catalog: EventType[];
}) {
  const selected = new Set(values.eventTypes.length === 0 ? [ALL_EVENTS] : values.eventTypes);
  // Subscriptions outside the catalog (wildcards such as payment.*) stay selectable so saving keeps them.
  const extra = values.eventTypes.filter((name) => name !== ALL_EVENTS && !catalog.some((type) => type.name === name));
  const invalid = (name: string) => (errors[name]?.length ? "true" : undefined);
  return (
    <form method="post" action={action} class="panel" novalidate>
      <CsrfField csrf={csrf} />
      {formError && <Flash kind="bad">{formError}</Flash>}
      <div class="field">
        <label for="name">Name</label>
        <input
          type="text"
          id="name"
          name="name"
          value={values.name}
          required
          maxlength={200}
          aria-invalid={invalid("name")}
          aria-describedby={described("name-hint", "name-error", Boolean(invalid("name")))}
        />
        <div class="hint" id="name-hint">
          For people: shown in lists and logs.
        </div>
        <FieldErrors id="name-error" messages={errors.name} />
      </div>
      <div class="field">
        <label for="url">URL</label>
        <input
          type="url"
          id="url"
          name="url"
          value={values.url}
          required
          placeholder="https://example.com/webhooks"
          aria-invalid={invalid("url")}
          aria-describedby={described("url-hint", "url-error", Boolean(invalid("url")))}
        />
        <div class="hint" id="url-hint">
          Herald POSTs signed JSON here. http or https; private and internal addresses are refused unless the deployment allows them.
        </div>
        <FieldErrors id="url-error" messages={errors.url} />
      </div>
      <div class="field">
        <label for="eventTypes">Event(s)</label>
        <select
          id="eventTypes"
          name="eventTypes"
          multiple
          aria-invalid={invalid("eventTypes")}
          aria-describedby={described("events-hint", "eventTypes-error", Boolean(invalid("eventTypes")))}
        >
          <option value={ALL_EVENTS} selected={selected.has(ALL_EVENTS)}>
            All events
          </option>
          {catalog.map((type) => (
            <option value={type.name} selected={selected.has(type.name)}>
              {type.name}
            </option>
          ))}
          {extra.map((name) => (
            <option value={name} selected>
              {name}
            </option>
          ))}
        </select>
        <div class="hint" id="events-hint">
          Hold Ctrl (⌘ on a Mac) to choose several. The event catalog describes each one.
        </div>
        <FieldErrors id="eventTypes-error" messages={errors.eventTypes} />
      </div>
      <div class="field">
        <label for="headers">Custom headers</label>
        <textarea
          id="headers"
          name="headers"
          rows={3}
          placeholder="X-Customer: acme"
          aria-invalid={invalid("headers")}
          aria-describedby={described("headers-hint", "headers-error", Boolean(invalid("headers")))}
        >
          {values.headers}
        </textarea>
        <div class="hint" id="headers-hint">
          One per line, as Name: value. Sent with every delivery.
        </div>
        <FieldErrors id="headers-error" messages={errors.headers} />
      </div>
      <div class="field">
        <label for="rateLimit">Rate limit (deliveries per second)</label>
        <input
          type="number"
          id="rateLimit"
          name="rateLimit"
          min={1}
          value={values.rateLimit}
          aria-invalid={invalid("rateLimit")}
          aria-describedby={described("rate-hint", "rateLimit-error", Boolean(invalid("rateLimit")))}
        />
        <div class="hint" id="rate-hint">
          Leave empty for no limit.
        </div>
        <FieldErrors id="rateLimit-error" messages={errors.rateLimit} />
      </div>
      <FieldErrors id="body-error" messages={errors["(body)"]} />
      <button type="submit">{submitLabel}</button>
    </form>
  );
}
