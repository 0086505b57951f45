// Package sifely is a client for the Sifely smart-lock cloud (a TTLock-derived
// API) and a parser for the webhook pushes it sends.
//
// It supports both generations of the cloud: the legacy host
// (app-smart-server.sifely.com, JWT login with refresh) and the Open API host
// (cus-openapi.sifely.com, permanent "sk-" API keys). Every call takes a
// context, is rate limited against the account's budget, and returns typed
// errors that callers branch on with errors.Is and errors.As.
package sifely
