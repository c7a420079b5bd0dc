"""The media processor: inbound images, audio, video and documents fetched, checked by their
bytes, scanned for viruses, described, converted for the channel and kept in the blob store."""
