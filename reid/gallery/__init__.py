"""The persistent cross-camera gallery: a faiss index beside a SQLite store, and the linker that turns
tracklet vectors into global identities."""
