package web_test

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds the browser. A missing browser fails the test: these tests
// prove the page works, and a skip would hide that nothing was proven.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CHROMIUM=%s: %v. Run `make ensure-chromium` or `apt-get install -y chromium`", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium not found: the browser tests need it. Run `make test` (its ensure-chromium step installs it as root), " +
		"or `apt-get install -y chromium`, or set CHROMIUM=/path/to/chrome")
	return ""
}

// browser is one headless Chromium with a fresh profile, and the page errors it saw.
type browser struct {
	ctx    context.Context
	errors chan string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	// Not t.TempDir: Chromium's helper processes may still write to the profile
	// for a moment after the browser exits, and TempDir fails the test on that.
	profile, err := os.MkdirTemp("", "imagepipe-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // root in CI containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1100, 1400),
		// The default 20 s is too short on a busy two-core CI machine.
		chromedp.WSURLReadTimeout(90 * time.Second),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		for i := 0; ; i++ {
			err := os.RemoveAll(profile)
			if err == nil {
				return
			}
			if i == 20 {
				t.Logf("leaving Chromium profile %s behind: %v", profile, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	b := &browser{ctx: ctx, errors: make(chan string, 100)}
	// CSP violations and script errors show up here; a page that breaks under
	// the CSP must fail the test, not just look a bit empty.
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.report("exception: " + ev.ExceptionDetails.Error())
		case *cdplog.EventEntryAdded:
			// Failed loads (source "network") are expected in the error tests;
			// security entries (CSP) and others are not.
			if ev.Entry.Level == cdplog.LevelError && ev.Entry.Source != cdplog.SourceNetwork {
				b.report(string(ev.Entry.Source) + ": " + ev.Entry.Text)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.report("console.error: " + strings.Join(parts, " "))
			}
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) report(s string) {
	select {
	case b.errors <- s:
	default:
	}
}

// pageErrors returns the errors seen so far.
func (b *browser) pageErrors() []string {
	var out []string
	for {
		select {
		case e := <-b.errors:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// fileItem is what the page shows for one file.
type fileItem struct {
	Name     string        `json:"name"`
	State    string        `json:"state"`
	Text     string        `json:"text"`
	Detail   string        `json:"detail"`
	Progress string        `json:"progress"`
	Variants []variantItem `json:"variants"`
	Buttons  []string      `json:"buttons"`
}

type variantItem struct {
	Name     string `json:"name"`
	Dims     string `json:"dims"`
	Bytes    string `json:"bytes"`
	Src      string `json:"src"`
	Href     string `json:"href"`
	Loaded   bool   `json:"loaded"`
	NaturalW int    `json:"naturalW"`
	NaturalH int    `json:"naturalH"`
	// CurrentSrc is the URL the browser chose in the <picture>; Shown is the
	// format the page says it shows; Sources are the <source> type and URL pairs.
	CurrentSrc string   `json:"currentSrc"`
	Shown      string   `json:"shown"`
	CopyURL    string   `json:"copyUrl"`
	Sources    []string `json:"sources"`
}

const readItems = `Array.from(document.querySelectorAll("li.file")).map(function (li) {
  return {
    name: li.querySelector(".file-name").textContent,
    state: li.getAttribute("data-state") || "",
    text: li.querySelector(".file-state").textContent,
    detail: li.querySelector(".file-detail").textContent,
    progress: li.getAttribute("data-progress") || "",
    buttons: Array.from(li.querySelectorAll(".file-actions button")).map(function (b) { return b.textContent; }),
    variants: Array.from(li.querySelectorAll("li.variant")).map(function (v) {
      var img = v.querySelector("img");
      return {
        name: v.querySelector(".variant-name").textContent,
        dims: v.querySelector(".variant-dims").textContent,
        bytes: v.querySelector(".variant-bytes").textContent,
        src: img.src, href: v.querySelector("p a").href,
        loaded: img.complete && img.naturalWidth > 0 && v.hasAttribute("data-shown"),
        naturalW: img.naturalWidth, naturalH: img.naturalHeight,
        currentSrc: img.currentSrc, shown: v.getAttribute("data-shown") || "",
        copyUrl: v.querySelector(".variant-url").value,
        sources: Array.from(v.querySelectorAll("picture source")).map(function (s) { return s.type + " " + s.srcset; })
      };
    })
  };
})`

var terminal = map[string]bool{"ready": true, "failed": true, "refused": true, "slow": true}

// waitSettled polls the page until want files are listed and each is in a final
// state (and every ready thumbnail has loaded), then returns them by name.
func (b *browser) waitSettled(t *testing.T, want int, timeout time.Duration) map[string]fileItem {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var items []fileItem
	for {
		items = nil
		b.run(t, chromedp.Evaluate(readItems, &items))
		settled := len(items) == want
		for _, it := range items {
			if !terminal[it.State] {
				settled = false
			}
			for _, v := range it.Variants {
				settled = settled && v.Loaded
			}
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			js, _ := json.MarshalIndent(items, "", "  ")
			t.Fatalf("page did not settle on %d files in %s; it shows:\n%s", want, timeout, js)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := map[string]fileItem{}
	for _, it := range items {
		out[it.Name] = it
	}
	return out
}

// screenshot saves the whole page as PNG under the test's artifact directory
// (kept with `go test -artifacts`), logs where, and checks it is a real image.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	var buf []byte
	b.run(t, chromedp.FullScreenshot(&buf, 100))
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() == 0 {
		t.Fatalf("screenshot %s is empty: %v", path, err)
	}
	img, err := png.Decode(strings.NewReader(string(buf)))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	if img.Bounds().Dx() < 300 || img.Bounds().Dy() < 300 {
		t.Fatalf("screenshot %s is only %v", path, img.Bounds())
	}
	t.Logf("screenshot: %s (%d bytes, %v)", path, st.Size(), img.Bounds().Size())
	return path
}

// writePNG writes a w x h test picture (a gradient, so it compresses like a
// photo would not but still decodes anywhere).
func writePNG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 160, 255})
		}
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeFile writes a file of size bytes; big ones are sparse, so a 26 MiB file
// costs nothing on disk.
func writeFile(t *testing.T, dir, name string, content []byte, size int64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if size > int64(len(content)) {
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func expectNoPageErrors(t *testing.T, b *browser) {
	t.Helper()
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the page logged errors (CSP violations or script errors):\n%s", strings.Join(errs, "\n"))
	}
}

// expectProgressPartway watches one file's progress bar until its upload ends and
// fails unless it was seen between 0 and 100 (the network must be throttled for
// that: network.EmulateNetworkConditions).
func (b *browser) expectProgressPartway(t *testing.T, name string) {
	t.Helper()
	js := `(function(){var e=Array.from(document.querySelectorAll("li.file")).find(function(li){return li.querySelector(".file-name").textContent===` +
		strconv.Quote(name) + `});
		if(!e) return ""; var pr=e.querySelector("progress"); return e.getAttribute("data-state")+":"+(pr.hidden?"hidden":pr.value)})()`
	var seen []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(30 * time.Millisecond) {
		var p string
		b.run(t, chromedp.Evaluate(js, &p))
		if len(seen) == 0 || seen[len(seen)-1] != p {
			seen = append(seen, p)
		}
		if st, _, _ := strings.Cut(p, ":"); terminal[st] || st == "processing" {
			break
		}
	}
	for _, p := range seen {
		if v, ok := strings.CutPrefix(p, "uploading:"); ok && v != "0" && v != "100" {
			t.Logf("%s: progress seen %q", name, seen)
			return
		}
	}
	t.Errorf("never saw %s's progress bar part way; states seen: %q", name, seen)
}
