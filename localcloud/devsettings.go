package localcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A long-lived local cloud (`imagepipe dev`) keeps its S3 and SQS addresses and an
// AWS CLI profile in its data directory, so the settings it prints stay valid
// across restarts.
const (
	// AWSProfile is the profile name in the AWS config file WriteAWSConfig writes.
	AWSProfile = "imagepipe-local"
	// AWSConfigFile and addrsFile are kept in the data directory.
	AWSConfigFile = "aws-config"
	addrsFile     = "addrs.json"
	// The first S3 and SQS ports of a new data directory are the API's port plus
	// these, so adjacent API ports (8080, 8081) never collide.
	s3PortOffset, sqsPortOffset = 100, 200
)

// DevAddrs are the S3 and SQS listen addresses of a long-lived local cloud.
type DevAddrs struct {
	S3  string `json:"s3"`
	SQS string `json:"sqs"`
}

// ChooseDevAddrs picks the S3 and SQS addresses for a local cloud whose API is on
// apiAddr with data in dataDir: the ones of the last run (kept by SaveDevAddrs),
// else the API's port plus 100 and 200; an address another process holds is
// replaced by a free port. moved names what changed from the last run.
func ChooseDevAddrs(dataDir, apiAddr string) (a DevAddrs, moved []string, err error) {
	host, port, err := net.SplitHostPort(apiAddr)
	if err != nil {
		return a, nil, fmt.Errorf("API address %q: %w", apiAddr, err)
	}
	prev, err := readDevAddrs(dataDir)
	if err != nil {
		return a, nil, err
	}
	if prev != nil {
		a = *prev
	} else if p, err := strconv.Atoi(port); err == nil && p > 0 && p+sqsPortOffset <= 65535 {
		a = DevAddrs{S3: net.JoinHostPort(host, strconv.Itoa(p+s3PortOffset)), SQS: net.JoinHostPort(host, strconv.Itoa(p+sqsPortOffset))}
	} else {
		a = DevAddrs{S3: net.JoinHostPort(host, "0"), SQS: net.JoinHostPort(host, "0")}
	}
	for _, f := range []struct {
		name string
		addr *string
	}{{"S3", &a.S3}, {"SQS", &a.SQS}} {
		if !free(*f.addr) {
			h, _, _ := net.SplitHostPort(*f.addr)
			if prev != nil {
				moved = append(moved, fmt.Sprintf("%s: %s is taken, using a free port", f.name, *f.addr))
			}
			*f.addr = net.JoinHostPort(h, "0")
		}
	}
	return a, moved, nil
}

// free reports whether addr can be listened on now (port 0 always can).
func free(addr string) bool {
	if strings.HasSuffix(addr, ":0") {
		return true
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

func readDevAddrs(dataDir string) (*DevAddrs, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, addrsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the kept addresses: %w", err)
	}
	var a DevAddrs
	if err := json.Unmarshal(b, &a); err != nil || a.S3 == "" || a.SQS == "" {
		// A damaged file only costs the old ports: start afresh rather than refuse.
		return nil, nil
	}
	return &a, nil
}

// SaveDevAddrs keeps the addresses c listens on in dataDir for the next run, and
// writes the AWS config file that points the AWS CLI and SDKs at them.
func SaveDevAddrs(dataDir string, c *Cloud) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	b, _ := json.Marshal(DevAddrs{S3: strings.TrimPrefix(c.S3URL, "http://"), SQS: strings.TrimPrefix(c.SQSURL, "http://")})
	if err := os.WriteFile(filepath.Join(dataDir, addrsFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("keep the addresses: %w", err)
	}
	return c.WriteAWSConfig(filepath.Join(dataDir, AWSConfigFile))
}

// WriteAWSConfig writes an AWS config file with one profile, AWSProfile, that has
// the local credentials, region and per-service endpoints (a services section,
// read by AWS CLI v2, aws-cli 1.x's S3 commands and current SDKs). Use it with
// AWS_CONFIG_FILE=path AWS_PROFILE=imagepipe-local.
func (c *Cloud) WriteAWSConfig(path string) error {
	text := fmt.Sprintf(`# Written by imagepipe dev for the local cloud; rewritten on every start.
# export AWS_CONFIG_FILE=%[1]s AWS_PROFILE=%[2]s
[profile %[2]s]
region = %[3]s
aws_access_key_id = %[4]s
aws_secret_access_key = %[5]s
services = %[2]s
s3 =
  addressing_style = path

[services %[2]s]
s3 =
  endpoint_url = %[6]s
sqs =
  endpoint_url = %[7]s
`, path, AWSProfile, c.cfg.Region, c.cfg.AccessKeyID, c.cfg.SecretAccessKey, c.S3URL, c.SQSURL)
	// The secret is the well-known local one, but keep the file private anyway.
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("write the AWS config file: %w", err)
	}
	return nil
}
