package diff

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

var screenshot = flag.Bool("screenshot", false, "render the bundled example's HTML diff to testdata/example-diff.png (the README's screenshot)")

// chromiumPath finds Debian's chromium (or Chrome).
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testutil.SkipUnlessCI(t, "no chromium on PATH (apt-get install chromium): the HTML report's browser test skipped")
	return ""
}

func browser(t *testing.T) (context.Context, func()) {
	bin := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Flag("headless", true),
		chromedp.WindowSize(1400, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelC := context.WithTimeout(ctx, 60*time.Second)
	return ctx, func() { cancelC(); cancelB(); cancelA() }
}

// TestHTMLInBrowser renders the HTML report in headless Chromium: the
// verdict, the two lanes and the marked divergence are there; "show only
// changed" hides the equal steps; a tool result expands; no script from
// the trace runs; and the page makes no request besides itself.
func TestHTMLInBrowser(t *testing.T) {
	ctx, done := browser(t)
	defer done()
	a, b := hostile()
	// Put the hostile pair's steps after equal ones, so the toggle has
	// something to hide.
	pre := handA().Steps[:3]
	a.Steps = append(append([]trace.Step{}, pre...), a.Steps...)
	b.Steps = append(append([]trace.Step{}, pre...), b.Steps...)
	var page bytes.Buffer
	if err := WriteHTML(&page, Runs(a, b, Options{}), RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "diff.html")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		requests []string
	)
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	str := func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		must(err)
		return v
	}
	num := func(js string) int {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		must(err)
		return v
	}
	boolean := func(js string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		must(err)
		return v
	}
	must(chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.ID("verdict"))))
	verdict := str(chromedp.Text(chromedp.ID("verdict")))
	marker := str(chromedp.Text(chromedp.CSS("#divergence .marker")))
	rows := num(`document.querySelectorAll('#lanes .row').length`)
	equalVisible := num(`[...document.querySelectorAll('#lanes .row.equal')].filter(e => getComputedStyle(e).display !== 'none').length`)
	must(chromedp.Do(ctx, chromedp.Click(chromedp.ID("only-changed"))))
	equalHidden := num(`[...document.querySelectorAll('#lanes .row.equal')].filter(e => getComputedStyle(e).display === 'none').length`)
	openBefore := boolean(`document.querySelector('#lanes .row.changed .lane-b details').open`)
	must(chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#lanes .row.changed .lane-b details summary"))))
	openAfter := boolean(`document.querySelector('#lanes .row.changed .lane-b details').open`)
	must(chromedp.Do(ctx, chromedp.Sleep(200*time.Millisecond)))
	pwned := boolean(`window.__pwned === 1`)
	scripts := num(`document.scripts.length`)
	imgs := num(`document.images.length`)
	iframes := num(`document.querySelectorAll('iframe').length`)
	if !strings.HasPrefix(verdict, "diverged at step") {
		t.Errorf("verdict %q", verdict)
	}
	if !strings.Contains(marker, "first divergence") {
		t.Errorf("divergence marker %q", marker)
	}
	if rows < 5 || equalVisible == 0 || equalHidden != equalVisible {
		t.Errorf("rows %d; equal rows visible %d, hidden after the toggle %d", rows, equalVisible, equalHidden)
	}
	if openBefore || !openAfter {
		t.Errorf("a tool result does not expand: open before %v, after %v", openBefore, openAfter)
	}
	if pwned || scripts != 0 || imgs != 0 || iframes != 0 {
		t.Errorf("trace content came alive: pwned %v, %d scripts, %d images, %d iframes", pwned, scripts, imgs, iframes)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requests) != 1 || !strings.HasPrefix(requests[0], "file://") {
		t.Errorf("the page made requests besides itself: %q", requests)
	}
}

// TestExampleScreenshot (-screenshot) renders the bundled example's diff
// in Chromium and writes the README's screenshot.
func TestExampleScreenshot(t *testing.T) {
	if !*screenshot {
		t.Skip("-screenshot writes testdata/example-diff.png")
	}
	ctx, done := browser(t)
	defer done()
	p := goldenPairs(t)["example"]
	var page bytes.Buffer
	if err := WriteHTML(&page, Runs(p[0], p[1], Options{}), RenderOptions{MaxOutput: 600}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "diff.html")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.ID("verdict"))); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "example-diff.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
