package store

import "github.com/filegate/filegate"

// The store's types are the root package's (see filegate.Bucket).
type (
	ObjectInfo  = filegate.ObjectInfo
	ListInput   = filegate.ListInput
	ListPage    = filegate.ListPage
	Part        = filegate.Part
	Upload      = filegate.Upload
	Grant       = filegate.Grant
	GetOptions  = filegate.GetOptions
	PutOptions  = filegate.PutOptions
	PostOptions = filegate.PostOptions
	Post        = filegate.Post
)
