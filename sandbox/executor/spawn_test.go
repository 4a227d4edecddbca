package executor

import (
	"slices"
	"testing"
)

func TestSplitWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{in: "./agent chat -stream", want: []string{"./agent", "chat", "-stream"}},
		{in: `claude -p "review the diff"  --json`, want: []string{"claude", "-p", "review the diff", "--json"}},
		{in: `a 'b "c"' d\ e ""`, want: []string{"a", `b "c"`, "d e", ""}},
		{in: "\tlead  trail \n", want: []string{"lead", "trail"}},
		{in: `open "quote`, bad: true},
	} {
		got, err := splitWords(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("splitWords(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
