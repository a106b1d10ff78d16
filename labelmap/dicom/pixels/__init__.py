"""Pixel Data: native frames (:mod:`.native`), encapsulation (:mod:`.encaps`) and frame codecs (:mod:`.codecs`)."""
