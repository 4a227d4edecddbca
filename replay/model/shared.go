package model

import (
	"net/http"
	"time"
)

// What the model proxy (replay/proxy) shares with Client: the retry policy,
// the classification of statuses, and the response cache.

// WithDefaults returns r with its zero fields set to the defaults.
func (r Retry) WithDefaults() Retry { return r.withDefaults() }

// Wait returns the wait before attempt n+1 (n counts from 1) under r:
// what the endpoint asked for in h (Retry-After, retry-after-ms), else
// exponential backoff from BaseDelay capped at MaxDelay, with equal jitter.
// asked says the endpoint asked for it. r should have its defaults set.
func (r Retry) Wait(n int, h http.Header, now time.Time) (d time.Duration, asked bool) {
	if d, ok := retryAfter(h, now); ok {
		return d, true
	}
	d = r.BaseDelay
	for i := 1; i < n && d < r.MaxDelay; i++ {
		d *= 2
	}
	return equalJitter(min(d, r.MaxDelay)), false
}

// TransientStatus reports whether an error response of status is worth
// a retry, as Client decides: 408, 409, 429 (except code
// "insufficient_quota", an exhausted quota) and 5xx. code is the error code
// the body gave ("" when none).
func TransientStatus(status int, code string) bool {
	return byStatus(failure{status: status}, code).retry
}

// CacheKey is the key under which a response to body, sent to endpoint for
// repetition sample, is cached: the scheme Client uses, so a cache can be
// shared. Callers whose entries are not chat completions put their own
// prefix in endpoint so that the entries of the two never meet.
func CacheKey(endpoint string, sample int, body []byte) string {
	h := keyHasher(endpoint, sample)
	h.Write(body)
	return keyString(h)
}

// Get returns the response body stored under key. A missing entry is a
// miss with no error; an unreadable or corrupt one a miss with an error
// that says so.
func (c *Cache) Get(key string) ([]byte, bool, error) { return c.get(key) }

// Put stores body, a JSON value, under key, atomically. endpoint, model,
// sample and latency are kept beside it for people reading the cache.
func (c *Cache) Put(key, endpoint, model string, sample int, latency time.Duration, body []byte) error {
	return c.put(key, cacheEntry{Endpoint: endpoint, Model: model, Sample: sample, Created: time.Now().UTC(),
		Latency: latency.Milliseconds(), Body: body})
}
