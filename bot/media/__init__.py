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

Privacy: stored media are personal data, in `media.dir` (never under content/, never served).
They are linked to a person only through the records that name them (a form in progress in
`users.state`, `reports.photo_ref`, `feedback.photo_ref`, report history): `/dulieu` lists the
references of the person's reports and feedback; an erasure deletes the state and clears a kept
feedback's `photo_ref`, and `retention.sweep_orphans` (for the daily privacy job) then deletes
every file no record names, past the forms' expiry. Logs never name a file or a URL.
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
