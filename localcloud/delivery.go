package localcloud

import (
	"fmt"
	"net"

	"github.com/imagepipe/imagepipe/localcloud/cdn"
)

// localDistributionID names the local distribution, for invalidations.
const localDistributionID = "ELOCALCLOUD"

// listenCDN reserves the CDN's address when the settings have a CDN, so its URL
// is known before the API is configured with it.
func (c *Cloud) listenCDN() error {
	if !c.cfg.Settings.CDN.Enabled {
		return nil
	}
	ln, err := net.Listen("tcp", c.cfg.CDNAddr)
	if err != nil {
		return fmt.Errorf("listen for the CDN on %s: %w", c.cfg.CDNAddr, err)
	}
	c.listeners = append(c.listeners, ln)
	c.cdnListener = ln
	c.CDNURL = "http://" + ln.Addr().String()
	return nil
}

// serveCDN serves the output bucket's variants as the deployed distribution does,
// running the same CloudFront Function file.
func (c *Cloud) serveCDN() error {
	if c.cdnListener == nil {
		return nil
	}
	d, err := cdn.New(cdn.Config{
		Bucket: c.OutputBucket, OriginPath: cdn.DefaultOriginPath, Objects: c.S3,
		AllowedOrigins: c.cfg.Settings.AllowedOrigins,
		DistributionID: localDistributionID, DomainName: c.cdnListener.Addr().String(),
		Log: c.log.With("service", "cdn"),
	})
	if err != nil {
		return err
	}
	c.CDN = d
	c.serve(c.cdnListener, d)
	return nil
}

// deliveryEnv is what the functions get of the CDN (nothing when it is off).
func (c *Cloud) deliveryEnv() map[string]string {
	return c.cfg.Settings.DeliveryEnv(c.CDNURL, localDistributionID)
}
