// Talking to porchlightd's JSON API (docs/ref/http-api.md). Errors become
// ApiError with the server's own words, so the pages can show them as is.

let csrf = "";

/** The CSRF token of the current session: sent with every state change. */
export function setCsrf(token) {
    csrf = token || "";
}

export class ApiError extends Error {
    constructor(status, message, retryAfter = 0, field = "") {
        super(message);
        this.status = status;
        this.retryAfter = retryAfter;
        this.field = field;  // the request's field the error is about, when it says
    }
}

/** Calls the API: resolves to the parsed JSON body, rejects with ApiError. */
export async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined)
        headers["Content-Type"] = "application/json";
    if (method !== "GET" && csrf)
        headers["X-CSRF-Token"] = csrf;
    let response;
    try {
        response = await fetch(path, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            credentials: "same-origin",
            cache: "no-store",
        });
    } catch (error) {
        throw new ApiError(0, `Cannot reach porchlightd (${error.message}). Is it running?`);
    }
    let data = {};
    try {
        data = await response.json();
    } catch {
        // An answer that is not JSON: described below by its status.
    }
    if (!response.ok) {
        const retryAfter = Number(response.headers.get("Retry-After")) || 0;
        const message = (data && typeof data.error === "string" && data.error) ||
            `porchlightd answered ${response.status} ${response.statusText}`.trim();
        throw new ApiError(response.status, message, retryAfter,
            (data && typeof data.field === "string" && data.field) || "");
    }
    return data;
}
