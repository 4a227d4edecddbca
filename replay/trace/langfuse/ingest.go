package langfuse

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Ingestion: POST /api/public/ingestion takes a batch of events, each
// {id, type, timestamp, body}: "trace-create" (body: the trace),
// "span-create", "generation-create", "agent-create", "tool-create", …
// (body: an observation). Langfuse deduplicates events by id and upserts
// traces and observations by body id, so sending the same events again
// changes nothing. It answers 207 Multi-Status with the events it took and
// those it refused ({"successes":[{id,status}],"errors":[{id,status,
// message,error}]}); 4xx only for the request as a whole (credentials, a
// body too large).

// IngestEvent is one event of an ingestion batch.
type IngestEvent struct {
	ID        string             `json:"id"`
	Type      string             `json:"type"`
	Timestamp string             `json:"timestamp"` // RFC 3339
	Body      stdjson.RawMessage `json:"body"`
}

// IngestError is an event the server refused.
type IngestError struct {
	ID      string             `json:"id"`
	Status  int                `json:"status"`
	Message string             `json:"message,omitempty"`
	Error   stdjson.RawMessage `json:"error,omitempty"`
}

// IngestResult is what a server made of the events sent.
type IngestResult struct {
	Accepted int           // events the server took
	Requests int           // batches sent
	Errors   []IngestError // events it refused, in the order it listed them
}

// MaxBatchBytes bounds the body of one ingestion request: Langfuse limits
// a batch to 3.5 MB. Larger sets of events go in several requests.
const MaxBatchBytes = 3_000_000

// Ingest sends events to the server, in batches of at most MaxBatchBytes
// (an event larger than that alone), retrying answers 429 and 5xx and
// network failures like Fetch. Events the server refused are in the
// result's Errors (see IngestErrors); an error is returned when a request
// failed as a whole, with the result so far.
func (c *Client) Ingest(ctx context.Context, events []IngestEvent) (IngestResult, error) {
	var res IngestResult
	base, err := c.ingestBase()
	if err != nil {
		return res, err
	}
	if c.PublicKey == "" || c.SecretKey == "" {
		return res, fmt.Errorf("send to langfuse at %s: no API keys: set LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY", base.Host)
	}
	u := base.JoinPath("/api/public/ingestion")
	var batch []stdjson.RawMessage
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		body, err := stdjson.Marshal(struct {
			Batch []stdjson.RawMessage `json:"batch"`
		}{batch})
		if err != nil {
			return fmt.Errorf("encode langfuse batch: %w", err)
		}
		ok, errs, err := c.post(ctx, u, body, len(batch))
		res.Requests++
		res.Accepted += ok
		res.Errors = append(res.Errors, errs...)
		batch, size = batch[:0], 0
		return err
	}
	for i := range events {
		b, err := stdjson.Marshal(&events[i])
		if err != nil {
			return res, fmt.Errorf("encode langfuse event %q: %w", events[i].ID, err)
		}
		if len(batch) > 0 && size+len(b)+1 > MaxBatchBytes-len(`{"batch":[]}`) {
			if err := flush(); err != nil {
				return res, err
			}
		}
		batch = append(batch, b)
		size += len(b) + 1
	}
	return res, flush()
}

func (c *Client) ingestBase() (*url.URL, error) {
	u, err := ParseHost(c.Host)
	if err != nil {
		return nil, fmt.Errorf("send to langfuse: %w", err)
	}
	return u, nil
}

// ParseHost checks a server's address as Client.Host takes it: an http or
// https URL with a host ("https://" is assumed when no scheme is given).
func ParseHost(host string) (*url.URL, error) {
	h := strings.TrimSpace(host)
	if h == "" {
		return nil, errors.New("no host: set LANGFUSE_HOST (e.g. https://cloud.langfuse.com)")
	}
	if !strings.Contains(h, "://") {
		h = "https://" + h
	}
	u, err := url.Parse(strings.TrimRight(h, "/"))
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || strings.ContainsAny(h, "?#") {
		return nil, fmt.Errorf("invalid host %q: want a URL such as https://cloud.langfuse.com", host)
	}
	return u, nil
}

// ingestResponse is the body of a 207 (or 200/201) answer.
type ingestResponse struct {
	Successes []struct {
		ID     string `json:"id"`
		Status int    `json:"status"`
	} `json:"successes"`
	Errors []IngestError `json:"errors"`
}

// IngestStatusError is an ingestion request the server refused as a whole.
type IngestStatusError struct {
	Host string
	Code int
	Body string
}

func (e *IngestStatusError) Error() string {
	prefix := fmt.Sprintf("send to langfuse at %s: %d %s", e.Host, e.Code, http.StatusText(e.Code))
	switch e.Code {
	case http.StatusUnauthorized:
		return prefix + ": the API keys were refused: check LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY (and that the host is the server they belong to)"
	case http.StatusForbidden:
		return prefix + ": these API keys may not write to this project"
	case http.StatusRequestEntityTooLarge:
		return prefix + ": the batch is too large for this server (an event with a large input or output: try without --content)"
	}
	if e.Body != "" {
		return prefix + ": " + e.Body
	}
	return prefix
}

// post sends one batch of n events and reads the answer: how many the
// server took and which it refused.
func (c *Client) post(ctx context.Context, u *url.URL, body []byte, n int) (int, []IngestError, error) {
	maxRetries := c.MaxRetries
	if maxRetries <= 0 {
		maxRetries = 4
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
		if err != nil {
			return 0, nil, fmt.Errorf("send to langfuse: %w", err)
		}
		req.SetBasicAuth(c.PublicKey, c.SecretKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := c.httpClient().Do(req)
		if err != nil {
			if ctx.Err() != nil || attempt >= maxRetries {
				return 0, nil, fmt.Errorf("send to langfuse at %s: %w", u.Host, err)
			}
			if err := c.wait(ctx, backoff(attempt)); err != nil {
				return 0, nil, fmt.Errorf("send to langfuse at %s: %w", u.Host, err)
			}
			continue
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if resp.StatusCode < 300 {
			if rerr != nil {
				return 0, nil, fmt.Errorf("send to langfuse at %s: read the answer: %w", u.Host, rerr)
			}
			return ingestAnswer(u.Host, data, n)
		}
		retryable := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
		if retryable && attempt < maxRetries {
			d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
			if !ok {
				d = backoff(attempt)
			}
			if err := c.wait(ctx, d); err != nil {
				return 0, nil, fmt.Errorf("send to langfuse at %s: %d %s, then %w", u.Host, resp.StatusCode, http.StatusText(resp.StatusCode), err)
			}
			continue
		}
		return 0, nil, &IngestStatusError{Host: u.Host, Code: resp.StatusCode, Body: snippet(data)}
	}
}

// ingestAnswer reads a success answer. A body that lists nothing (an older
// server's 200 with no body) counts every event as taken.
func ingestAnswer(host string, data []byte, n int) (int, []IngestError, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return n, nil, nil
	}
	var r ingestResponse
	if err := stdjson.Unmarshal(data, &r); err != nil {
		return 0, nil, fmt.Errorf("send to langfuse at %s: the answer is not an ingestion response: %w", host, err)
	}
	if len(r.Successes) == 0 && len(r.Errors) == 0 {
		return n, nil, nil
	}
	return len(r.Successes), r.Errors, nil
}
