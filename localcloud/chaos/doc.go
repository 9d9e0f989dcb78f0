// Package chaos drives the whole service through the local cloud the way browsers
// and bad luck would: S3 failing a share of requests, the resize worker killed in
// the middle of batches, a poison image that ends in the DLQ and its redrive, and
// a load benchmark (`make loadtest`) that proves no image is lost. It holds only
// tests; the service's code is elsewhere.
package chaos
