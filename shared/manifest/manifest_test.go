package manifest

import (
	"strings"
	"testing"
)

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !ValidID(id) || seen[id] {
			t.Fatalf("id %q invalid or repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "../x", strings.Repeat("A", 32), strings.Repeat("a", 31), strings.Repeat("a", 33), strings.Repeat("g", 32)} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestIDForUploadKey(t *testing.T) {
	id := NewID()
	tests := []struct {
		key    string
		ok     bool
		sameAs string // the id must equal this, when set
	}{
		{key: "uploads/" + id, ok: true, sameAs: id},
		{key: "uploads/my cat+dog é.jpg", ok: true},
		{key: "uploads/../../variants/x/manifest.json", ok: true},
		{key: "uploads/" + strings.ToUpper(id), ok: true},
		{key: "uploads/", ok: false},
		{key: "other/" + id, ok: false},
		{key: "uploadsX/" + id, ok: false},
	}
	for _, tc := range tests {
		got, ok := IDForUploadKey("uploads/", tc.key)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.key, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		if !ValidID(got) {
			t.Errorf("%q: id %q is not a valid id, so it could escape variants/", tc.key, got)
		}
		if tc.sameAs != "" && got != tc.sameAs {
			t.Errorf("%q: id %q, want %q", tc.key, got, tc.sameAs)
		}
		again, _ := IDForUploadKey("uploads/", tc.key)
		if again != got {
			t.Errorf("%q: id not stable", tc.key)
		}
	}
	a, _ := IDForUploadKey("uploads/", "uploads/a.jpg")
	b, _ := IDForUploadKey("uploads/", "uploads/b.jpg")
	if a == b {
		t.Error("different keys share an id")
	}
}

func TestKeys(t *testing.T) {
	id := NewID()
	if got := Key(id); got != "variants/"+id+"/manifest.json" {
		t.Errorf("Key = %q", got)
	}
	if got := VariantKey(id, "thumb", "jpg"); got != "variants/"+id+"/thumb.jpg" || !strings.HasPrefix(got, Prefix(id)) {
		t.Errorf("VariantKey = %q", got)
	}
	if got := UploadKey("uploads/", id); got != "uploads/"+id {
		t.Errorf("UploadKey = %q", got)
	}
}

func TestKeyBaseName(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"uploads/cat.jpg", "cat.jpg"},
		{"uploads/trip/day 1/é+cat.JPG", "é+cat.JPG"},
		{"cat.jpg", "cat.jpg"},
		{"uploads/folder/", ""},
		{"", ""},
	} {
		if got := KeyBaseName(tc.key); got != tc.want {
			t.Errorf("KeyBaseName(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}
