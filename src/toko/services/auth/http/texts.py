"""The words of the account pages in Indonesian and English, and which of the two a request gets.

A page is in the language ``?lang=`` names, else the first of ours the browser's
``Accept-Language`` prefers, else Indonesian. The sign-in, consent and logout pages
stay bilingual (their words are in their templates).
"""

from __future__ import annotations

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
# ISO 639's withdrawn code for Indonesian, still sent by some older systems.
_ALIASES = {"in": "id"}

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "other_language": "English",
        "email": "Email",
        "name": "Nama",
        "password": "Kata sandi",
        "password_hint": "Minimal 8 karakter, bukan kata sandi umum.",
        "language": "Bahasa email dan halaman",
        "continue": "Lanjut masuk",
        "send_link": "Kirim tautan",
        "signup_title": "Daftar",
        "signup_heading": "Buat akun",
        "signup_button": "Daftar",
        "have_account": "Sudah punya akun?",
        "sign_in": "Masuk",
        "signup_done_title": "Cek email Anda",
        "signup_done": "Akun Anda sudah dibuat. Tautan verifikasi sedang dikirim ke {email}; buka tautan itu "
        "untuk memverifikasi alamat Anda.",
        "verified_title": "Email terverifikasi",
        "verified": "Alamat {email} sudah terverifikasi. Anda bisa menutup halaman ini.",
        "verify_failed_title": "Tautan tidak berlaku",
        "verify_failed": "Tautan verifikasi ini sudah kedaluwarsa atau tidak dikenal.",
        "new_verification_link": "Kirim tautan verifikasi baru",
        "resend_title": "Tautan verifikasi baru",
        "resend_intro": "Masukkan email dan kata sandi akun Anda; kami kirim tautan baru ke alamat akun itu.",
        "resend_done": "Tautan verifikasi baru sedang dikirim ke {email}. "
        "Tautan sebelumnya tidak berlaku lagi.",
        "already_verified": "Alamat {email} sudah terverifikasi.",
        "forgot_title": "Lupa kata sandi",
        "forgot_intro": "Masukkan email akun Anda; kami kirim tautan untuk membuat kata sandi baru.",
        "forgot_done_title": "Cek email Anda",
        "forgot_done": "Jika ada akun dengan alamat {email}, tautan untuk membuat kata sandi baru sedang "
        "dikirim ke sana. Tautan itu hanya berlaku sebentar.",
        "forgot_link": "Lupa kata sandi?",
        "reset_title": "Kata sandi baru",
        "new_password": "Kata sandi baru",
        "confirm_password": "Ulangi kata sandi baru",
        "reset_button": "Simpan kata sandi",
        "reset_done_title": "Kata sandi diganti",
        "reset_done": "Kata sandi Anda sudah diganti dan Anda sudah keluar di semua perangkat. "
        "Masuk lagi dengan kata sandi baru.",
        "reset_failed_title": "Tautan tidak berlaku",
        "reset_failed": "Tautan ini sudah dipakai, sudah kedaluwarsa, atau tidak dikenal.",
        "new_reset_link": "Minta tautan baru",
        "form_expired": "Formulir kedaluwarsa; muat ulang halaman dan coba lagi.",
        "too_many_attempts": "Terlalu banyak percobaan, coba lagi nanti.",
        "bad_credentials": "Email atau kata sandi salah.",
        "check_fields": "Periksa isian yang ditandai.",
        "passwords_differ": "Kedua kata sandi tidak sama.",
        "INVALID_EMAIL": "Masukkan alamat email yang benar.",
        "EMAIL_TAKEN": "Alamat ini sudah punya akun: masuk, atau minta tautan lupa kata sandi.",
        "WEAK_PASSWORD": "Pilih kata sandi yang lebih kuat: minimal 8 karakter, bukan kata sandi umum, "
        "dan bukan alamat email Anda.",
        "INVALID_NAME": "Isi nama yang terlihat, paling banyak 100 karakter.",
        "INVALID_LANGUAGE": "Pilih Bahasa Indonesia atau English.",
    },
    "en": {
        "other_language": "Bahasa Indonesia",
        "email": "Email",
        "name": "Name",
        "password": "Password",
        "password_hint": "At least 8 characters, not a common password.",
        "language": "Language of your emails and pages",
        "continue": "Continue to sign in",
        "send_link": "Send the link",
        "signup_title": "Sign up",
        "signup_heading": "Create an account",
        "signup_button": "Sign up",
        "have_account": "Have an account already?",
        "sign_in": "Sign in",
        "signup_done_title": "Check your email",
        "signup_done": "Your account is created. A verification link is on its way to {email}; open it to "
        "verify your address.",
        "verified_title": "Email verified",
        "verified": "{email} is verified. You can close this page.",
        "verify_failed_title": "This link does not work",
        "verify_failed": "This verification link has expired or is unknown.",
        "new_verification_link": "Send a new verification link",
        "resend_title": "A new verification link",
        "resend_intro": "Enter your account's email and password; we will send a new link to its address.",
        "resend_done": "A new verification link is on its way to {email}. Earlier links no longer work.",
        "already_verified": "{email} is verified already.",
        "forgot_title": "Forgot your password",
        "forgot_intro": "Enter your account's email; we will send a link to set a new password.",
        "forgot_done_title": "Check your email",
        "forgot_done": "If an account has the address {email}, a link to set a new password is on its way "
        "to it. The link works for a short while only.",
        "forgot_link": "Forgot your password?",
        "reset_title": "New password",
        "new_password": "New password",
        "confirm_password": "New password again",
        "reset_button": "Save the password",
        "reset_done_title": "Password changed",
        "reset_done": "Your password is changed and you are signed out everywhere. "
        "Sign in again with the new one.",
        "reset_failed_title": "This link does not work",
        "reset_failed": "This link was used already, has expired or is unknown.",
        "new_reset_link": "Ask for a new link",
        "form_expired": "The form expired; reload the page and try again.",
        "too_many_attempts": "Too many attempts; try again later.",
        "bad_credentials": "Wrong email or password.",
        "check_fields": "Please check the marked fields.",
        "passwords_differ": "The two passwords differ.",
        "INVALID_EMAIL": "Enter a valid email address.",
        "EMAIL_TAKEN": "This address has an account already: sign in, or ask for a new password.",
        "WEAK_PASSWORD": "Choose a stronger password: at least 8 characters, not a common one, "
        "and not your email address.",
        "INVALID_NAME": "Enter a name that shows, at most 100 characters.",
        "INVALID_LANGUAGE": "Choose Bahasa Indonesia or English.",
    },
}


def _language_tag(tag: str) -> str:
    primary = tag.strip().split("-", 1)[0].lower()
    return _ALIASES.get(primary, primary)


def pick_language(asked: str, accept_language: str) -> str:
    """``asked`` (``?lang=``) when it is one of ours, else the browser's preference, else Indonesian."""
    if (chosen := _language_tag(asked)) in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")[:20]):
        tag, _, parameters = item.partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:
            ranked.append((-weight, position, _language_tag(tag)))
    for _, _, language in sorted(ranked):
        if language in LANGUAGES:
            return language
    return DEFAULT_LANGUAGE


def reason_text(reason: str, language: str) -> str | None:
    """What a user service reason means to the person filling in the form, or None."""
    return TEXTS[language].get(reason) if reason.isupper() else None
