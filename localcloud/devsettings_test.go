package localcloud

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// freePort is a port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestChooseDevAddrs(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	p := freePort(t)
	for p+sqsPortOffset > 65535 {
		p = freePort(t)
	}
	k1, k2 := "127.0.0.1:"+strconv.Itoa(freePort(t)), "127.0.0.1:"+strconv.Itoa(freePort(t))
	tests := []struct {
		name      string
		api, kept string
		want      DevAddrs
		moved     bool
	}{
		{name: "first run: the API's port + 100 and + 200", api: "127.0.0.1:" + strconv.Itoa(p),
			want: DevAddrs{S3: "127.0.0.1:" + strconv.Itoa(p+s3PortOffset), SQS: "127.0.0.1:" + strconv.Itoa(p+sqsPortOffset)}},
		{name: "first run on a free API port: free ports", api: "127.0.0.1:0",
			want: DevAddrs{S3: "127.0.0.1:0", SQS: "127.0.0.1:0"}},
		{name: "restart: the kept ones", api: "127.0.0.1:0", kept: `{"s3":"` + k1 + `","sqs":"` + k2 + `"}`,
			want: DevAddrs{S3: k1, SQS: k2}},
		{name: "restart with a kept port taken: a free one, said", api: "127.0.0.1:0",
			kept: `{"s3":"` + held.Addr().String() + `","sqs":"` + k2 + `"}`,
			want: DevAddrs{S3: "127.0.0.1:0", SQS: k2}, moved: true},
		{name: "a damaged file: start afresh", api: "127.0.0.1:0", kept: `{"s3":`,
			want: DevAddrs{S3: "127.0.0.1:0", SQS: "127.0.0.1:0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.kept != "" {
				if err := os.WriteFile(filepath.Join(dir, addrsFile), []byte(tc.kept), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, moved, err := ChooseDevAddrs(dir, tc.api)
			if err != nil || got != tc.want || (len(moved) > 0) != tc.moved {
				t.Errorf("got %+v, moved %q, err %v; want %+v, moved %v", got, moved, err, tc.want, tc.moved)
			}
		})
	}
	if _, _, err := ChooseDevAddrs(t.TempDir(), "no port"); err == nil {
		t.Error("accepted an API address without a port")
	}
}
