package ownership

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/shared/manifest"
)

func TestIDsSortNewestFirstInTheIndex(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var ids, keys []string
	for i := range 5 {
		id := NewID(t0.Add(time.Duration(i) * time.Millisecond))
		if !manifest.ValidID(id) {
			t.Fatalf("%q is not a valid id", id)
		}
		ids = append(ids, id)
		keys = append(keys, IndexKey("alice", id))
	}
	slices.Sort(keys)
	for i, k := range keys {
		id, ok := IDFromIndexKey(k)
		if !ok || id != ids[len(ids)-1-i] {
			t.Errorf("key %d is %s (%s), want the %d-th newest", i, k, id, i)
		}
		if !strings.HasPrefix(k, OwnerIndexPrefix("alice")) {
			t.Errorf("%s outside the owner's index", k)
		}
	}
	// Random IDs (from manifest.NewID) still have one fixed index key.
	r := manifest.NewID()
	if k1, k2 := IndexKey("alice", r), IndexKey("alice", r); k1 != k2 {
		t.Errorf("index key not deterministic: %s, then %s", k1, k2)
	}
	if a, b := NewID(t0), NewID(t0); a == b {
		t.Errorf("two IDs at the same instant are equal: %s", a)
	}
}

func TestSubjectsNeverAppearInKeys(t *testing.T) {
	for _, sub := range []string{"alice", "../../variants/x", "user@example.com", "日本", "a/b"} {
		for _, k := range []string{OwnerIndexPrefix(sub), IndexKey(sub, manifest.NewID()), quotaKey(sub, manifest.NewID(), time.Now(), 5)} {
			if strings.Contains(k, sub) || strings.Contains(k, "..") || strings.Count(k, "/") > 4 {
				t.Errorf("key %q shows or escapes with subject %q", k, sub)
			}
		}
		if DecodeOwner(map[string]string{OwnerMetaKey: EncodeOwner(sub)}) != sub {
			t.Errorf("owner %q does not round-trip through metadata", sub)
		}
	}
	if OwnerHash("alice") == OwnerHash("bob") || len(OwnerHash("alice")) != 32 {
		t.Error("owner hash")
	}
}

func TestQuotaKeyRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 30, 0, 123e6, time.UTC)
	got, size, ok := parseQuotaKey(quotaKey("alice", manifest.NewID(), at, 12345))
	if !ok || !got.Equal(at) || size != 12345 {
		t.Errorf("got %v %d %v", got, size, ok)
	}
	for _, bad := range []string{"quota/x/", "quota/x/zz-1-2", "quota/x/000000000000-id", "quota/x/000000000000-id--5"} {
		if _, _, ok := parseQuotaKey(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
