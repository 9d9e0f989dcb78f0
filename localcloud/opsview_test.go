package localcloud_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/localcloud"
	"github.com/imagepipe/imagepipe/shared/metrics"
	"github.com/imagepipe/imagepipe/shared/settings"
	"github.com/imagepipe/imagepipe/web/opsview"
)

func TestOpsViewIsServedBesideTheAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cloud, err := localcloud.Start(ctx, localcloud.Config{Settings: settings.Default(), Name: "opsviewtest", PollWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cloud.Close(context.Background()) })

	// An EMF record from the resize handler's emitter reaches the view.
	if err := cloud.Metrics().Emit("resize", "corrupt_image", opsViewFailure()); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(cloud.APIURL + "/ops/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var stats opsview.Stats
	if err := json.NewDecoder(res.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || stats.Queue == nil || stats.QueueError != "" || stats.Totals.FailedByCode["corrupt_image"] != 1 {
		t.Errorf("GET /ops/stats: %d %+v", res.StatusCode, stats)
	}

	page, err := http.Get(cloud.APIURL + "/ops")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /ops: %d %s", page.StatusCode, page.Header.Get("Content-Type"))
	}
	// The API still answers beside it.
	health, err := http.Get(cloud.APIURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	health.Body.Close()
	if health.StatusCode != 200 {
		t.Errorf("GET /healthz: %d", health.StatusCode)
	}
}

func opsViewFailure() metrics.Value {
	return metrics.Value{Name: metrics.ImagesFailed, Unit: metrics.Count, Value: 1}
}
