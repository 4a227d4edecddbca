package export

import (
	"fmt"
	"net/url"
	"strings"
)

// TracesURL returns the OTLP/HTTP traces endpoint, following the OTLP
// exporter configuration: flag (--endpoint) and base
// (OTEL_EXPORTER_OTLP_ENDPOINT) are base URLs to which "/v1/traces" is
// appended, unless their path already ends with it; traces
// (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is used as it is. The flag wins, then
// traces, then base. It returns "" when all three are empty.
func TracesURL(flag, traces, base string) (string, error) {
	var raw, from string
	signal := false
	switch {
	case strings.TrimSpace(flag) != "":
		raw, from = flag, "--endpoint"
	case strings.TrimSpace(traces) != "":
		raw, from, signal = traces, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", true
	case strings.TrimSpace(base) != "":
		raw, from = base, "OTEL_EXPORTER_OTLP_ENDPOINT"
	default:
		return "", nil
	}
	u, err := parseEndpoint(raw)
	if err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	if !signal && !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimRight(u.Path, "/") + "/v1/traces"
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String(), nil
}

// parseEndpoint checks an endpoint URL: http or https, a host, no query.
func parseEndpoint(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid endpoint %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid endpoint %q: want an http:// or https:// URL, e.g. http://localhost:4318", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("invalid endpoint %q: no host", raw)
	}
	if strings.ContainsAny(s, "?#") || u.User != nil {
		return nil, fmt.Errorf("invalid endpoint %q: a query, fragment or user is not supported (send credentials with OTEL_EXPORTER_OTLP_HEADERS)", raw)
	}
	return u, nil
}

// ParseHeaders reads OTEL_EXPORTER_OTLP_HEADERS: comma-separated key=value
// pairs, values percent-encoded ("api-key=abc,x-team=a%20b").
func ParseHeaders(s string) (map[string]string, error) {
	h := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || !validHeaderName(k) {
			return nil, fmt.Errorf("invalid header %q: want key=value (comma-separated, values percent-encoded)", pair)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("invalid header %q: %w", pair, err)
		}
		if strings.ContainsAny(dv, "\r\n\x00") {
			return nil, fmt.Errorf("invalid header %q: the value holds a line break", k)
		}
		h[k] = dv
	}
	return h, nil
}

// validHeaderName reports whether k is an HTTP token.
func validHeaderName(k string) bool {
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}
