package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/imagecore"
)

func TestParseChildLines(t *testing.T) {
	cases := []struct {
		name    string
		out     string
		warm    warmUsage
		compile time.Duration
		encodes []encodeFigure
		wantErr string // of the first parser that fails, in the order warm, compile, encodes
	}{
		{
			name: "every kind, among other output",
			out: "compile cpu_us=1500000 wall_us=1600000\nsomething else\n" +
				"warm cpu_us=420000 wall_us=430000 runs=3 rss_kb=90000\n" +
				"encode variant=thumb format=jpeg width=200 height=200 cpu_us=626 bytes=6986 runs=3\n" +
				"encode variant=thumb format=avif width=200 height=200 cpu_us=22733 bytes=6408 runs=3\n",
			warm:    warmUsage{cpu: 420 * time.Millisecond, rssKB: 90000},
			compile: 1500 * time.Millisecond,
			encodes: []encodeFigure{
				{"thumb", imagecore.FormatJPEG, 200, 200, 626 * time.Microsecond, 6986},
				{"thumb", imagecore.FormatAVIF, 200, 200, 22733 * time.Microsecond, 6408},
			},
		},
		{
			name: "a warm line without rss (sharpbench.js before it printed one)",
			out:  "compile cpu_us=0 wall_us=1\nwarm cpu_us=5 wall_us=6 runs=2\n",
			warm: warmUsage{cpu: 5 * time.Microsecond},
		},
		{name: "no warm line", out: "compile cpu_us=1\n", wantErr: "no warm figure"},
		{name: "warm without cpu", out: "warm wall_us=3\n", wantErr: "no cpu_us"},
		{name: "warm cpu not a number", out: "warm cpu_us=fast\n", wantErr: "cpu_us"},
		{name: "no compile line", out: "warm cpu_us=1\n", wantErr: "no compile figure"},
		{
			name:    "encode line missing bytes",
			out:     "warm cpu_us=1\ncompile cpu_us=1\nencode variant=small format=webp width=1 height=1 cpu_us=3\n",
			wantErr: "encode line of small webp: no bytes",
		},
		{
			name:    "encode line without a format",
			out:     "warm cpu_us=1\ncompile cpu_us=1\nencode variant=small width=1\n",
			wantErr: "without variant or format",
		},
		{
			name:    "prefix of a kind is not the kind",
			out:     "warmish cpu_us=1\ncompile cpu_us=1\n",
			wantErr: "no warm figure",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, err := parseWarm(c.out)
			var comp time.Duration
			var enc []encodeFigure
			if err == nil {
				comp, err = parseCompile(c.out)
			}
			if err == nil {
				enc, err = parseEncodes(c.out)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w != c.warm || comp != c.compile {
				t.Errorf("warm %+v compile %v, want %+v %v", w, comp, c.warm, c.compile)
			}
			if len(enc) != len(c.encodes) {
				t.Fatalf("encodes %+v, want %+v", enc, c.encodes)
			}
			for i := range enc {
				if enc[i] != c.encodes[i] {
					t.Errorf("encode %d: %+v, want %+v", i, enc[i], c.encodes[i])
				}
			}
		})
	}
}

func TestDescribeFormats(t *testing.T) {
	avif, webp := imagecore.FormatAVIF, imagecore.FormatWebP
	cases := []struct {
		vs   []imagecore.Variant
		want string
	}{
		{imagecore.DefaultVariants(), "avif on thumb, small, medium"},
		{[]imagecore.Variant{{Name: "a"}, {Name: "b"}}, "no alternates"},
		{[]imagecore.Variant{{Name: "a", Formats: []imagecore.Format{webp, avif}}, {Name: "b", Formats: []imagecore.Format{avif}},
			{Name: "c", Formats: []imagecore.Format{webp, avif}}}, "webp+avif on a, c; avif on b"},
	}
	for _, c := range cases {
		if got := describeFormats(c.vs); got != c.want {
			t.Errorf("describeFormats(%v) = %q, want %q", c.vs, got, c.want)
		}
	}
}

// Two photos, the second without a WebP thumb, so missing cells and the
// means are exercised.
func formatsFixture() ([]formatSet, []photoFormats) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	cell := func(cpu float64, bytes int64, ssim float64) formatCell { return formatCell{ms(cpu), bytes, ssim} }
	j, w, a := imagecore.FormatJPEG, imagecore.FormatWebP, imagecore.FormatAVIF
	sets := formatSets([]imagecore.Variant{{Name: "thumb", Formats: []imagecore.Format{a}}, {Name: "large"}})
	ps := []photoFormats{
		{photo: "/c/one.jpg", mp: 12.25, sets: []setFigures{{ms(400), 0, 90 << 10, 300 << 10}, {ms(450), ms(1500), 150 << 10, 305 << 10}, {ms(3000), ms(1700), 480 << 10, 900 << 10}},
			variants: []variantFigures{
				{"thumb", 200, 200, map[imagecore.Format]formatCell{j: cell(0.6, 7000, 0.95), w: cell(22, 4900, 0.93), a: cell(23, 6400, 0.96)}},
				{"large", 2048, 1365, map[imagecore.Format]formatCell{j: cell(47, 272056, 0.97), w: cell(1600, 156016, 0.95), a: cell(1500, 191482, 0.97)}},
			}},
		{photo: "two.jpg", mp: 20.4, sets: []setFigures{{ms(300), 0, 60 << 10, 200 << 10}, {ms(330), ms(1400), 120 << 10, 204 << 10}, {ms(2000), ms(1600), 400 << 10, 600 << 10}},
			variants: []variantFigures{
				{"thumb", 200, 200, map[imagecore.Format]formatCell{j: cell(1.4, 5000, 0.97), a: cell(25, 4000, 0.98)}},
				{"large", 2048, 1152, map[imagecore.Format]formatCell{j: cell(53, 200000, 0.99), w: cell(1400, 100000, 0.96), a: cell(1300, 150000, 0.985)}},
			}},
	}
	return sets, ps
}

func TestFormatsTables(t *testing.T) {
	sets, ps := formatsFixture()
	cases := []struct {
		name  string
		write func(*bytes.Buffer)
		want  string
	}{
		{"variants of one photo", func(b *bytes.Buffer) { writeVariantTable(b, ps[1].variants) }, `| variant | size | JPEG CPU | JPEG bytes | JPEG SSIM | WebP CPU | WebP bytes | WebP SSIM | AVIF CPU | AVIF bytes | AVIF SSIM |
|---|---|---|---|---|---|---|---|---|---|---|
| thumb | 200x200 | 1.4 ms | 4.9 KB | 0.9700 | | | | 25.0 ms | 3.9 KB (0.80) | 0.9800 |
| large | 2048x1152 | 53.0 ms | 195.3 KB | 0.9900 | 1400.0 ms | 97.7 KB (0.50) | 0.9600 | 1300.0 ms | 146.5 KB (0.75) | 0.9850 |
| **all** | | **54.4 ms** | 200.2 KB | | **1400.0 ms** | 97.7 KB | | **1325.0 ms** | 150.4 KB | |

`},
		{"per photo", func(b *bytes.Buffer) { writePhotoTable(b, sets, ps) }, `| photo | MP | JPEG only | configured (avif on thumb) | x JPEG only | every format | x JPEG only | WASM compile (configured / every format) | peak RSS | bytes |
|---|---|---|---|---|---|---|---|---|---|
| one.jpg | 12.2 | 400 ms | 450 ms | 1.12 | 3000 ms | 7.50 | 1500 ms / 1700 ms | 90 / 150 / 480 MB | 300 / 305 / 900 KB |
| two.jpg | 20.4 | 300 ms | 330 ms | 1.10 | 2000 ms | 6.67 | 1400 ms / 1600 ms | 60 / 120 / 400 MB | 200 / 204 / 600 KB |

`},
		{"means", func(b *bytes.Buffer) { writeMeansTable(b, ps) }, `| variant | JPEG CPU | WebP CPU | WebP bytes / JPEG | WebP SSIM - JPEG | AVIF CPU | AVIF bytes / JPEG | AVIF SSIM - JPEG |
|---|---|---|---|---|---|---|---|
| thumb | 1.0 ms | 22.0 ms | 0.70 | -0.0200 | 24.0 ms | 0.86 | +0.0100 |
| large | 50.0 ms | 1500.0 ms | 0.54 | -0.0250 | 1400.0 ms | 0.73 | -0.0025 |

`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			c.write(&b)
			if b.String() != c.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), c.want)
			}
		})
	}
}

// TestEncodeRunsPrintsWhatBenchParses runs the child's -encodes pass on a
// committed photo and parses it as the bench does: one line per variant and
// format, primary first, with the encoded size of each.
func TestEncodeRunsPrintsWhatBenchParses(t *testing.T) {
	e, err := imagecore.NewEngine(imagecore.DefaultLimits(), []imagecore.Variant{
		{Name: "thumb", Width: 48, Height: 48, Fit: imagecore.FitCover, Formats: []imagecore.Format{imagecore.FormatAVIF}},
		{Name: "small", Width: 120},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := encodeRuns(context.Background(), e, filepath.Join("..", "..", "testdata", "images", "seeding.jpg"), 2, &out); err != nil {
		t.Fatal(err)
	}
	figs, err := parseEncodes(out.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		variant string
		format  imagecore.Format
		w, h    int
	}{{"thumb", imagecore.FormatJPEG, 48, 48}, {"thumb", imagecore.FormatAVIF, 48, 48}, {"small", imagecore.FormatJPEG, 120, 68}}
	if len(figs) != len(want) {
		t.Fatalf("parsed %+v from\n%s", figs, out.String())
	}
	for i, w := range want {
		f := figs[i]
		if f.variant != w.variant || f.format != w.format || f.width != w.w || f.height != w.h || f.bytes < 100 {
			t.Errorf("line %d: %+v, want %s %s %dx%d with its bytes", i, f, w.variant, w.format, w.w, w.h)
		}
	}
}
