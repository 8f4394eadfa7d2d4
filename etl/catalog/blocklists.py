"""Block lists of tagged apps in each appliance's own configuration syntax (`block-script`).

Every format blocks a domain suffix and all its subdomains, which is how the catalog matches;
docs/block-scripts.md says where each output is loaded on the appliance.
"""
from __future__ import annotations

import json

from etl.catalog import Catalog

FORMATS = ("squid", "panos", "fortigate", "zscaler", "bluecoat", "cisco_asa", "juniper_srx", "websense", "domains")
LIST_NAME = "cloud-discovery-{tag}"


def tagged_domains(catalog: Catalog, tags: dict[str, str], tag: str) -> list[tuple[str, list[str]]]:
    """(app_id, its domain suffixes) of the apps with `tag`, by app_id; apps with no domain left out."""
    rows = catalog.apps.select(["app_id", "domains"]).to_pylist()
    out = []
    for row in sorted(rows, key=lambda r: r["app_id"]):
        if tags.get(row["app_id"], "none") == tag and row["domains"]:
            out.append((row["app_id"], sorted(set(row["domains"].lower().split()))))
    return out


def _all(apps) -> list[str]:
    """Every listed suffix once, without those another listed suffix already covers (Squid warns
    about `.www.x.com` next to `.x.com`, and it is noise everywhere else)."""
    every = {d for _, domains in apps for d in domains}
    return sorted(d for d in every if not any(d.endswith("." + other) for other in every))


def _header(comment: str, tag: str, apps, version: str) -> list[str]:
    return [f"{comment} Cloud Discovery block list: apps tagged {tag} ({len(apps)} apps, "
            f"{len(_all(apps))} domains), catalog {version}",
            f"{comment} apps: {', '.join(a for a, _ in apps) or '(none)'}"]


def render(fmt: str, apps, tag: str, version: str) -> str:
    name = LIST_NAME.format(tag=tag)
    domains = _all(apps)
    if fmt == "domains":
        lines = _header("#", tag, apps, version) + domains
    elif fmt == "squid":
        # dstdomain with a leading dot matches the domain and every subdomain
        acl = name.replace("-", "_")
        lines = _header("#", tag, apps, version) + [f"acl {acl} dstdomain .{d}" for d in domains]
        lines += [f"http_access deny {acl}"] if domains else []
    elif fmt == "panos":
        entries = " ".join(f"{p}{d}" for d in domains for p in ("", "*."))
        lines = _header("#", tag, apps, version) + [
            f'set profiles custom-url-category {name} type "URL List"',
            f"set profiles custom-url-category {name} list [ {entries} ]" if domains else "",
            f"set profiles url-filtering {name}-profile block {name}"]
    elif fmt == "fortigate":
        lines = _header("#", tag, apps, version) + ["config webfilter urlfilter", "    edit 0",
                                                     f'        set name "{name}"', "        config entries"]
        for d in domains:
            for url, kind in ((d, "simple"), (f"*.{d}", "wildcard")):
                lines += ["            edit 0", f'                set url "{url}"', f"                set type {kind}",
                          "                set action block", "            next"]
        lines += ["        end", "    next", "end"]
    elif fmt == "zscaler":
        # the body of ZIA's PUT /urlCategories/{id}; a leading dot covers the subdomains
        body = {"configuredName": name, "superCategory": "USER_DEFINED_SUPER_CATEGORY", "customCategory": True,
                "description": f"Cloud Discovery: apps tagged {tag}, catalog {version}",
                "urls": [f".{d}" for d in domains]}
        return json.dumps(body, indent=2) + "\n"
    elif fmt == "bluecoat":
        cond = name.replace("-", "_")
        lines = _header(";", tag, apps, version) + [f"define condition {cond}"]
        lines += [f"    url.domain={d}" for d in domains] + ["end", "", "<Proxy>", f"    condition={cond} deny"]
    elif fmt == "cisco_asa":
        lines = _header("!", tag, apps, version)
        regexes = []
        for i, d in enumerate(domains, 1):
            regexes.append(f"cd_{tag}_{i}")
            lines.append(f'regex cd_{tag}_{i} "(^|\\.){d.replace(".", "[.]")}$"')
        lines.append(f"class-map type regex match-any {name}")
        lines += [f"  match regex {r}" for r in regexes]
        lines += [f"policy-map type inspect http {name}-http", "  parameters",
                  f"  match request header host regex class {name}", "    drop-connection log"]
    elif fmt == "juniper_srx":
        values = " ".join(f'"{p}{d}"' for d in domains for p in ("", "*."))
        lines = _header("#", tag, apps, version) + [
            f"set security utm custom-objects url-pattern {name} value [ {values} ]" if domains else "",
            f"set security utm custom-objects custom-url-category {name} value {name}",
            f"set security utm feature-profile web-filtering juniper-local profile {name} category {name} action block"]
    elif fmt == "websense":
        # Forcepoint: one URL per line for a custom category's "Recategorized URLs" import
        lines = _header("#", tag, apps, version) + [f"http://{d}" for d in domains] + [f"https://{d}" for d in domains]
    else:
        raise ValueError(fmt)
    return "\n".join(line for line in lines if line != "" or fmt == "bluecoat") + "\n"
