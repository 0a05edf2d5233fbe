"""Photos and audio users send: downloaded from the channel, checked by content, cleaned, and
stored by content hash, before the turn (and so the form engine) sees them.

Interface for the form engine and whatever keeps answers:

- After the step, a photo or audio that was stored has `Media.ref` = `media/<2 hex>/<sha256>.
  <ext>` (`store.is_stored_ref`), a path relative to `media.dir` (`MediaStore.path(ref)` gives
  the file), `mime_type` the checked type (image/jpeg, image/png, image/webp, audio/ogg,
  audio/mpeg, audio/aac, audio/mp4, audio/amr, audio/wav, audio/webm) and `size` the stored
  bytes. Images are re-encoded without any metadata (EXIF and its GPS position included).
- When it could not be stored, the Media stays as received (a platform id or URL, NOT a stored
  reference) and `IncomingMessage.media_problem` is a `download.Problem`: a str with the
  Vietnamese message to show, plus `.code` (failed, too_large, too_many_pixels, not_image,
  not_audio, empty) and `.msgid`/`.params` to translate it. Check `media_problem` first.
- Web chat uploads (bot/media/web.py, `POST /api/uploads`) are stored before the turn, so their
  message arrives with a stored reference already.

Privacy: stored media are personal data. They are linked to a person only through the records
that name them (form answers in the dialogue state, and later the report and feedback rows):
an export lists the references found in the person's records (`store.refs_in`), an erasure
deletes those files (`MediaStore.delete`) unless another person's record names the same hash.
"""

from bot.media.checks import MediaRefused
from bot.media.download import PROBLEMS, DownloadFailed, MediaStep, Problem
from bot.media.store import MediaStore, is_stored_ref, refs_in

__all__ = [
    "PROBLEMS",
    "DownloadFailed",
    "MediaRefused",
    "MediaStep",
    "MediaStore",
    "Problem",
    "is_stored_ref",
    "refs_in",
]
