"""The fallback modes and pypicloud's fallback table: what a project page answers, case by case."""

from __future__ import annotations

from enum import Enum

NONE, REDIRECT, CACHE, MIRROR = "none", "redirect", "cache", "mirror"
FALLBACKS = (NONE, REDIRECT, CACHE, MIRROR)


class Listing(Enum):
    """What a project page answers (the Response column of pypicloud's table)."""

    LOCAL = "serve package list"
    UPSTREAM = "upstream links that will download & cache"
    LOCAL_UPSTREAM = "serve package list + cache links"
    LOCAL_REDIRECT = "serve packages + redirect links"
    REDIRECT = "302 to fallback"
    LOGIN = "401 (to force upload of basic auth)"
    NOT_FOUND = "404"


def decide(mode: str, held: bool, read: bool, cache: bool, logged_in: bool) -> Listing:
    """pypicloud's fallback table, row by row: the index holds the project, the asker may read it,
    may update the cache, is logged in. Anonymous askers who are refused get a 401 so that pip sends
    credentials; logged-in ones a 404, or in mirror mode a 302 to the upstream."""

    def refuse(logged_in_answer: Listing) -> Listing:
        return logged_in_answer if logged_in else Listing.LOGIN

    if mode == REDIRECT:
        if not held:
            return Listing.REDIRECT
        return Listing.LOCAL if read else refuse(Listing.REDIRECT)
    elsewhere = Listing.REDIRECT if mode == MIRROR else Listing.NOT_FOUND
    if not read:
        return refuse(elsewhere)
    if mode == NONE:
        return Listing.LOCAL if held else Listing.NOT_FOUND
    if not held:
        return Listing.UPSTREAM if cache else refuse(elsewhere)
    if mode == CACHE:
        return Listing.LOCAL
    return Listing.LOCAL_UPSTREAM if cache else refuse(Listing.LOCAL_REDIRECT)


def listing_for(mode: str, held: bool, read: bool, cache: bool, logged_in: bool, cached_only: bool) -> Listing:
    """The table, plus one extension: in cache mode a project held only through cached files keeps
    listing the upstream's files to those who may update the cache (pypicloud would freeze it at the
    versions cached first); everyone else still sees just what is cached."""
    answer = decide(mode, held, read, cache, logged_in)
    if answer is Listing.LOCAL and mode == CACHE and held and cached_only and cache:
        return Listing.LOCAL_UPSTREAM
    return answer
