package web_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imagepipe/imagepipe/shared/settings"
)

// signIn opens the page and signs in as user through the local issuer's dev form,
// as a person would: Sign in, type a name, submit, back on the page signed in.
func signIn(pageURL, user string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Navigate(pageURL + "/"),
		chromedp.WaitVisible("#sign-in", chromedp.ByID),
		chromedp.Click("#sign-in", chromedp.ByID),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", user, chromedp.ByID),
		chromedp.Submit("#username", chromedp.ByID),
		chromedp.WaitVisible("#drop", chromedp.ByID),
	}
}

// Signed in through the dev form, a user uploads, sees the picture in "my
// images", deletes it there, and signs out.
func TestSignInUploadGalleryDeleteSignOut(t *testing.T) {
	s := settings.Default()
	s.Resize.BatchWindow = 0
	cloud := startCloud(t, s)
	b := newBrowser(t)
	photo, err := filepath.Abs(filepath.Join("..", "testdata", "images", "wine.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	var who string
	b.run(t,
		chromedp.Navigate(cloud.APIURL+"/"),
		chromedp.WaitVisible("#sign-in", chromedp.ByID),
	)
	var pickerHidden bool
	b.run(t, chromedp.Evaluate(`document.getElementById("picker").hidden`, &pickerHidden))
	if !pickerHidden {
		t.Error("the upload picker shows before signing in")
	}
	b.run(t,
		signIn(cloud.APIURL, "alice"),
		chromedp.Text("#who", &who, chromedp.ByID),
	)
	if who != "Signed in as alice" {
		t.Errorf("shows %q", who)
	}
	var location string
	b.run(t, chromedp.Location(&location))
	if strings.Contains(location, "code=") {
		t.Errorf("the code stayed in the address bar: %s", location)
	}
	b.run(t, chromedp.SetUploadFiles("#files", []string{photo}, chromedp.ByID))
	b.waitSettled(t, 1, 2*time.Minute)
	var cards int
	deadline := time.Now().Add(30 * time.Second)
	for cards != 1 && time.Now().Before(deadline) {
		b.run(t, chromedp.Evaluate(`document.querySelectorAll("#gallery .picture img").length`, &cards))
		time.Sleep(200 * time.Millisecond)
	}
	if cards != 1 {
		t.Fatalf("my images shows %d pictures, want 1", cards)
	}
	var id string
	b.run(t, chromedp.AttributeValue("#gallery .picture", "data-id", &id, nil))
	b.run(t,
		chromedp.Click("#gallery .picture .delete"),
		chromedp.WaitNotPresent("#gallery .picture"),
	)
	// Gone for the API too.
	tok, err := cloud.AccessToken("alice")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, cloud.APIURL+"/v1/images/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of the deleted image: %d", resp.StatusCode)
	}
	b.run(t,
		chromedp.Click("#sign-out", chromedp.ByID),
		chromedp.WaitVisible("#sign-in", chromedp.ByID),
		chromedp.Text("#who", &who, chromedp.ByID),
	)
	if who != "Not signed in" {
		t.Errorf("after sign-out shows %q", who)
	}
}
