"""What the product is: a Google Product Taxonomy node, or a plain "not sure" with the reason.

Every signal becomes a vote for a node, with its source and weight (``vocab/identity.toml``):

- **seller**: the seller's title, category or product type, read by the text model
  (``tagger.text_identity``); what the seller typed outranks everything else;
- **pack**: the pack's readable English lines, read by the same text model, and cue words
  and units (``GU10``, ``365 capsules … 268 mg``) that name a kind of product whatever the brand;
- **image**: the bundled backbone's ImageNet-1k probabilities, mapped onto the taxonomy
  (``vocab/taxonomy_map/imagenet.csv``): a recogniser of hundreds of product classes;
- **specialist**: the closed-set fashion or grocery classifier, which only refines the leaf
  inside its own branch, when the other signals already point there.

The strongest source that says enough decides; weaker ones refine inside its node or, when
they point to another branch, make the identity uncertain. A confident wrong answer is worse
than "not sure", so disagreement and weak evidence fall back to the deepest node the votes
share, flagged uncertain, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources

import numpy as np

from listingsmith.core import vocab
from listingsmith.core.types import CategoryPrediction, Evidence, Identity, TextSpan
from tagger.identity_calibration import calibrated
from tagger.pack_text import ReadLine, read_line
from tagger.taxonomy import Taxonomy, taxonomy

SOURCE_ORDER = ("seller", "pack", "image")
WEAK_EVIDENCE = "weak evidence"
"""How the reason of an identity unsure for want of evidence (not for a conflict) begins."""
SELLER_FIELDS = ("product_type", "title", "product_name", "name", "category", "sub_category",
                 "type")
"""Seller fields that say what the product is, most specific first."""


@lru_cache(maxsize=1)
def rules() -> dict:
    return vocab.load("tagger", "vocab/identity.toml")


@lru_cache(maxsize=None)
def category_map(name: str) -> dict[str, int]:
    """A mapping table of ``vocab/taxonomy_map`` (``imagenet``, ``fashion``, ``grocery`` …):
    the source's own category → Google ID; empty for a seller's own classifier, which has
    no table (its classes then never refine an identity)."""
    if not resources.files("tagger").joinpath(f"vocab/taxonomy_map/{name}.csv").is_file():
        return {}
    rows = vocab.load("tagger", f"vocab/taxonomy_map/{name}.csv")
    return {row["source_category"]: int(row["google_id"]) for row in rows if row["google_id"]}


@lru_cache(maxsize=1)
def _cues() -> tuple[tuple[re.Pattern, int, float, str], ...]:
    return tuple((re.compile(cue["pattern"], re.IGNORECASE), int(cue["google_id"]),
                  float(cue["confidence"]), cue["name"]) for cue in rules()["pack"]["cues"])


@dataclass(frozen=True)
class Vote:
    source: str
    value: str
    node: int | None
    confidence: float
    detail: str = ""

    @property
    def weight(self) -> float:
        return rules()["weights"][self.source] * self.confidence

    def evidence(self) -> Evidence:
        return Evidence(self.source, self.value[:200] or "(no text)", self.node,
                        round(min(1.0, self.weight), 4), self.detail)


def cue_votes(text: str, source: str) -> list[Vote]:
    """Votes of the cue words and units found in ``text`` (data: ``[[pack.cues]]``)."""
    return [Vote(source, match.group(0), node, confidence, f"cue: {name}")
            for pattern, node, confidence, name in _cues()
            for match in [pattern.search(text)] if match]


@lru_cache(maxsize=1)
def _node_names() -> dict[str, int]:
    """Taxonomy leaf names a text can state outright ("tennis ball" → Tennis Balls), singular
    and lower case: only names no other node shares, without "&" or ",", and single words of
    at least ``[names] min_letters`` letters."""
    tree = taxonomy()
    counts: dict[str, list[int]] = {}
    for node in tree.ids():
        counts.setdefault(product_type_words(tree.node(node).name), []).append(node)
    min_letters = rules()["names"]["min_letters"]
    return {name: nodes[0] for name, nodes in counts.items()
            if len(nodes) == 1 and not re.search(r"[&,()]", name)
            and (" " in name or len(name) >= min_letters)}


def name_votes(text: str, source: str) -> list[Vote]:
    """Votes for the taxonomy nodes ``text`` names outright, longest names first, each word
    used once: the words on a pack or in a title that say what the product is."""
    words = re.findall(r"[a-z]+(?:-[a-z]+)*", text.lower())
    confidence = rules()["names"]["confidence"]
    names, used, votes = _node_names(), set(), []
    for size in (4, 3, 2, 1):
        for start in range(len(words) - size + 1):
            span = set(range(start, start + size))
            node = names.get(product_type_words(" ".join(words[start:start + size])))
            if node is not None and not span & used:
                used |= span
                votes.append(Vote(source, " ".join(words[start:start + size]), node,
                                  confidence[min(size, len(confidence)) - 1],
                                  "names the taxonomy node"))
    return votes


def readable_lines(spans: list[TextSpan]) -> list[ReadLine]:
    """The OCR lines the bundled English text model can read (``tagger.pack_text``: English,
    or put into English by the product-noun lexicon), tallest first. A name printed on every
    side of a pack is read once, and partial reads of a longer line ("START" of "STARTER")
    not at all."""
    settings = rules()["pack"]
    texts = [" ".join(span.text.split()) for span in sorted(spans, key=lambda s: -s.height)]
    keys = ["".join(c for c in text.lower() if c.isalnum()) for text in texts]
    kept, seen = [], set()
    for text, key in zip(texts, keys):
        if (sum(c.isalpha() for c in text) < settings["min_letters"] or key in seen
                or any(key in other and len(other) > len(key) for other in keys)):
            continue
        seen.add(key)
        line = read_line(text)
        if line is not None:
            kept.append(line)
    return kept[:settings["max_lines"]]


def class_mass(scores, table: str, tree: Taxonomy) -> dict[int, float]:
    """Class probabilities ``(label, p)`` mapped to Google nodes by ``table``
    (``vocab/taxonomy_map``) and summed up each node's ancestors; unmapped classes count
    nowhere."""
    mapped = category_map(table)
    mass: dict[int, float] = {}
    for label, probability in scores:
        if label in mapped:
            for node in (mapped[label], *tree.ancestors(mapped[label])):
                mass[node] = mass.get(node, 0.0) + float(probability)
    return mass


def image_vote(probabilities: np.ndarray | None, tree: Taxonomy) -> Vote | None:
    """The ImageNet class probabilities (mean over photos) mapped onto the taxonomy and summed
    up each node's ancestors; the vote is the deepest node holding ``[image] support`` of all
    the probability (a "mail bag" at 51% and a "backpack" at 9% make "Luggage & Bags" 60%)."""
    if probabilities is None:
        return None
    from tagger.backbone import imagenet_labels

    mass = class_mass(zip(imagenet_labels(), probabilities), "imagenet", tree)
    if not mass:
        return None
    support = rules()["image"]["support"]
    held = [node for node, share in mass.items() if share >= support]
    node = (max(held, key=lambda n: (tree.node(n).depth, mass[n])) if held
            else max(mass, key=mass.get))
    best = imagenet_labels()[int(np.argmax(probabilities))]
    return Vote("image", best, node, min(1.0, mass[node]),
                f"ImageNet classes mapped under this node hold {mass[node]:.0%}")


class Identifier:
    """Fuses the votes into an ``Identity``; the text model loads on first use, once."""

    def __init__(self, text_model=None, tree: Taxonomy | None = None):
        self._text_model = text_model
        self.tree = tree or taxonomy()

    @cached_property
    def text_model(self):
        if self._text_model is None:
            from tagger.text_identity import TextIdentifier

            self._text_model = TextIdentifier()
        return self._text_model

    def text_votes(self, texts: list[str], source: str, printed: str = "",
                   discount: float = 1.0) -> list[Vote]:
        """The text model's vote for each text (its confidence times ``discount``), the
        taxonomy names they state, and the cue words found in them or in ``printed`` (all the
        pack's words, any language)."""
        texts = [text for text in texts if text.strip()]
        votes = [Vote(source, text, answer.google_id, answer.confidence * discount,
                      f"text model: {answer.path or 'no branch'}")
                 for text, answer in zip(texts, self.text_model.predict(texts))] if texts else []
        joined = " ".join(texts)
        return votes + cue_votes(f"{joined} {printed}", source) + name_votes(joined, source)

    def line_votes(self, lines: list[ReadLine]) -> list[Vote]:
        """Each pack line of a few words read alone, discounted: product words ("Tape
        Measure") drown among a pack's brand, claims and translations when all its lines are
        read as one text, but a lone word ("Mika") is no evidence."""
        settings = rules()["pack"]
        lines = [line for line in lines if len(line.english.split()) >= settings["line_min_words"]]
        if len(lines) < 2:
            return []
        answers = self.text_model.predict([line.english for line in lines])
        return [Vote("pack", line.printed, answer.google_id,
                     answer.confidence * settings["line_discount"],
                     "text model, one line" + (f" ({line.language}: {line.english!r})"
                                               if line.english != line.printed else ""))
                for line, answer in zip(lines, answers)]

    def zero_shot_votes(self, lines: list[ReadLine]) -> list[Vote]:
        """Each readable line against every taxonomy node's name alone (the text model's
        zero-shot half): a product no corpus holds ("Smoke Detector") still names its node,
        where the trained head, sure of itself on text unlike its corpora, guesses; claims
        ("Premium quality") name none. Lone words are left out: a brand ("Innocent") or an
        OCR fragment is as near to some node's name as a product word is."""
        settings = rules()["pack"]
        lines = [line for line in lines
                 if len(line.english.split()) >= settings["line_min_words"]]
        if not lines:
            return []
        answers = self.text_model.zero_shot([line.english for line in lines],
                                            settings["zero_shot_temperature"],
                                            settings["zero_shot_support"])
        return [Vote("pack", line.printed, answer.google_id,
                     answer.confidence * settings["zero_shot_discount"],
                     f"zero-shot, node names: {answer.path or 'no node'}")
                for line, answer in zip(lines, answers)]

    def votes(self, seller: dict[str, str], spans: list[TextSpan],
              image_probabilities: np.ndarray | None) -> list[Vote]:
        seller_texts = [seller[name] for name in SELLER_FIELDS if seller.get(name, "").strip()]
        pack = readable_lines(spans)
        votes = self.text_votes([" ".join(seller_texts)] if seller_texts else [], "seller")
        pack_text = " ".join(line.english for line in pack)
        enough = len(pack_text.split()) >= rules()["pack"]["text_model_min_words"]
        votes += self.text_votes([pack_text] if enough else [], "pack",
                                 " ".join(span.text for span in spans),
                                 rules()["pack"]["text_model_discount"])
        votes += self.line_votes(pack) + self.zero_shot_votes(pack)
        image = image_vote(image_probabilities, self.tree)
        return votes + ([image] if image is not None else [])

    def identify(self, seller: dict[str, str], spans: list[TextSpan] = (),
                 image_probabilities: np.ndarray | None = None,
                 specialist: CategoryPrediction | None = None,
                 calibrate: bool = True) -> Identity:
        """The fused identity; its confidence mapped to a probability of being right
        (``tagger.identity_calibration``) unless ``calibrate`` is off (to fit the maps)."""
        votes = self.votes(seller, list(spans), image_probabilities)
        identity = refine_by_specialist(decide(votes, self.tree), specialist, self.tree)
        return calibrated(identity) if calibrate else identity


def decide(votes: list[Vote], tree: Taxonomy) -> Identity:
    """The first source (seller, pack, image) whose votes agree enough decides
    (``source_choice``); weaker sources refine inside its node or, pointing elsewhere, flag a
    conflict."""
    settings = rules()["decide"]
    evidence = [vote.evidence() for vote in votes]
    placed = [vote for vote in votes if vote.node is not None]
    choice, deciding = None, ""
    for source in SOURCE_ORDER:
        choice = source_choice([v for v in placed if v.source == source], tree)
        if choice is not None:
            deciding = source
            break
    if choice is None:
        return _weak(placed, evidence, tree)
    node, reason = choice, ""
    later = SOURCE_ORDER[SOURCE_ORDER.index(deciding) + 1:]
    for vote in sorted((v for v in placed if v.source in later), key=lambda v: -v.weight):
        if tree.is_ancestor_or_self(node, vote.node) and vote.weight >= settings["refine_vote"]:
            node = vote.node
        elif (deciding != "seller" and vote.weight >= settings["conflict_vote"]
              and tree.top_level(vote.node) != tree.top_level(node)):
            reason = (f"the {deciding} says {tree.path_text(node)!r} but the "
                      f"{vote.source} says {tree.path_text(vote.node)!r}")
            node = tree.top_level(node)
            break
    agreeing = [v.weight for v in placed if tree.is_ancestor_or_self(node, v.node)
                or tree.is_ancestor_or_self(v.node, node)]
    confidence = 1.0 - float(np.prod([1.0 - min(w, 0.99) for w in agreeing]))
    return _identity(node, confidence, reason, evidence, tree)


def subtree_support(votes: list[Vote], tree: Taxonomy) -> dict[int, float]:
    """Each node's support from ``votes``: the noisy-or of the weights of the votes for it or
    for a node under it, so lines that name the same kind of product add up."""
    doubt: dict[int, float] = {}
    for vote in votes:
        for node in (vote.node, *tree.ancestors(vote.node)):
            doubt[node] = doubt.get(node, 1.0) * (1.0 - min(vote.weight, 0.99))
    return {node: 1.0 - rest for node, rest in doubt.items()}


def source_choice(votes: list[Vote], tree: Taxonomy) -> int | None:
    """The node one source's votes decide, or None when they say too little: the best
    supported top-level branch when its support reaches ``min_vote``, then down the tree to the
    best supported child while it keeps ``min_vote`` and ``descend_share`` of its parent's
    support (a lone noisy line cannot pull the answer into a wrong leaf)."""
    settings = rules()["decide"]
    support = subtree_support(votes, tree)
    branches = [node for node in support if tree.node(node).depth == 1]
    if not branches:
        return None
    node = max(branches, key=support.get)
    if support[node] < settings["min_vote"]:
        return None
    while True:
        children = [child for child in support if tree.node(child).parent == node]
        best = max(children, key=support.get, default=None)
        if (best is None or support[best] < settings["min_vote"]
                or support[best] < settings["descend_share"] * support[node]):
            return node
        node = best


def _weak(placed: list[Vote], evidence: list[Evidence], tree: Taxonomy) -> Identity:
    """No source says enough: the best vote's top-level branch, or no node at all."""
    strong = [v for v in placed if v.weight >= rules()["decide"]["weak_vote"]]
    if not strong:
        return Identity(None, "", "", 0.0, True, "no photo text, seller field or image class "
                        "says what the product is", evidence)
    best = max(strong, key=lambda v: v.weight)
    return _identity(tree.top_level(best.node), best.weight,
                     f"{WEAK_EVIDENCE}: the best signal ({best.source}: {best.value[:60]!r}) "
                     f"holds only {best.weight:.0%}", evidence, tree)


def _identity(node: int, confidence: float, reason: str, evidence: list[Evidence],
              tree: Taxonomy) -> Identity:
    return Identity(node, tree.path_text(node), product_type(node, tree),
                    round(min(1.0, confidence), 4), bool(reason), reason, evidence)


def refine_by_specialist(identity: Identity, specialist: CategoryPrediction | None,
                         tree: Taxonomy) -> Identity:
    """A closed-set classifier's class, mapped to Google, replaces the identity's node only
    when it lies inside it (the fused identity already points into the specialist's branch)
    and the specialist is sure. Agreeing with an identity that was unsure only for want of
    evidence (not for a conflict) makes it sure. An unsure specialist (an out-of-distribution
    photo, a type it never saw) still refines to the deepest node holding most of its
    probability (``_unsure_refinement``), leaving the identity as sure or unsure as it was."""
    if specialist is None or identity.taxonomy_id is None:
        return identity
    if specialist.uncertain:
        return _unsure_refinement(identity, specialist, tree)
    mapped = category_map(specialist.taxonomy)
    node = next((mapped[name] for name in (specialist.label, *reversed(specialist.path))
                 if name in mapped), None)
    if node is None or not tree.is_ancestor_or_self(identity.taxonomy_id, node):
        return identity
    weight = round(rules()["weights"]["specialist"] * specialist.score, 4)
    evidence = identity.evidence + [Evidence("specialist", specialist.label, node, weight,
                                             f"{specialist.taxonomy} classifier")]
    weak = identity.uncertain and identity.reason.startswith(WEAK_EVIDENCE)
    sure = weak and weight >= rules()["decide"]["min_vote"]
    confidence = 1.0 - (1.0 - identity.confidence) * (1.0 - weight) if sure else identity.confidence
    return Identity(node, tree.path_text(node), product_type_words(specialist.label),
                    round(confidence, 4), identity.uncertain and not sure,
                    "" if sure else identity.reason, evidence)


def specialist_mass(specialist: CategoryPrediction, tree: Taxonomy) -> dict[int, float]:
    """The specialist's top-k probabilities mapped to Google nodes and summed up each node's
    ancestors (several shoe classes together make "Shoes"); unmapped classes count nowhere."""
    return class_mass(specialist.top_k or [(specialist.label, specialist.score)],
                      specialist.taxonomy, tree)


def _unsure_refinement(identity: Identity, specialist: CategoryPrediction,
                       tree: Taxonomy) -> Identity:
    """An unsure specialist's fallback: the deepest node strictly inside the identity's that
    holds at least ``[specialist] unsure_support`` of its probability; else the identity as it
    is. The node is only as deep as the classes agree, so an unseen type lands on their common
    ancestor rather than on a wrong leaf. An identity unsure only for want of evidence becomes
    sure when that agreement is strong (``[specialist] unsure_confirm_vote``)."""
    mass = specialist_mass(specialist, tree)
    settings = rules()["specialist"]
    support = settings["unsure_support"]
    inside = [node for node, share in mass.items() if share >= support
              and node != identity.taxonomy_id
              and tree.is_ancestor_or_self(identity.taxonomy_id, node)]
    if not inside:
        return identity
    node = max(inside, key=lambda n: (tree.node(n).depth, mass[n]))
    weight = round(rules()["weights"]["specialist"] * mass[node], 4)
    evidence = identity.evidence + [Evidence(
        "specialist", specialist.label, node, weight,
        f"{specialist.taxonomy} classifier, unsure: its classes under this node hold "
        f"{mass[node]:.0%}")]
    weak = identity.uncertain and identity.reason.startswith(WEAK_EVIDENCE)
    if weak and weight >= settings["unsure_confirm_vote"]:
        confidence = 1.0 - (1.0 - identity.confidence) * (1.0 - weight)
        return Identity(node, tree.path_text(node), product_type(node, tree),
                        round(confidence, 4), False, "", evidence)
    return Identity(node, tree.path_text(node), product_type(node, tree), identity.confidence,
                    identity.uncertain, identity.reason, evidence)


def product_type(node: int, tree: Taxonomy) -> str:
    """What a buyer would search for a node: its name in ``[product_types]`` (a branch such as
    "Luggage & Bags" is a "bag"), else its leaf name in the singular."""
    named = rules()["product_types"].get(str(node))
    return named or product_type_words(tree.node(node).name)


def product_type_words(name: str) -> str:
    """A node or class name as a lower-case singular phrase.

    >>> product_type_words("Light Bulbs"), product_type_words("Dresses")
    ('light bulb', 'dress')
    >>> product_type_words("Batteries"), product_type_words("Vitamins & Supplements")
    ('battery', 'vitamins & supplements')
    """
    words = name.lower().split()
    if not words or "&" in words:
        return " ".join(words)
    last = words[-1]
    for plural, singular in (("ies", "y"), ("sses", "ss"), ("shes", "sh"), ("ches", "ch"),
                             ("xes", "x"), ("ses", "se"), ("s", "")):
        if last.endswith(plural) and not last.endswith("ss"):
            words[-1] = last[:-len(plural)] + singular
            break
    return " ".join(words)


@lru_cache(maxsize=1)
def default_identifier() -> Identifier:
    """The process's identifier on the bundled text model (its weights load once)."""
    return Identifier()


class IdentifyStage:
    """The ``identify`` stage: seller fields, pack text, the image recogniser and the
    category specialist → ``Attributes.identity``. Runs after category and facts."""

    name = "identify"

    def __init__(self, identifier: Identifier | None = None):
        self.identifier = identifier or default_identifier()

    def wanted(self, selected: frozenset[str]) -> bool:
        return self.name in selected

    def run(self, context) -> str:
        outputs = context.outputs
        probabilities = (np.mean([o.probabilities for o in outputs], axis=0)
                         if outputs else None)
        attrs = context.attrs
        attrs.identity = self.identifier.identify(attrs.seller, attrs.text_spans, probabilities,
                                                  attrs.category)
        attrs.tags = gate_tags(attrs.tags, attrs.identity, self.identifier.tree)
        return "tagger:text_identity+vocab/taxonomy_map/imagenet.csv+vocab/identity.toml"


def gate_tags(tags: list, identity: Identity, tree: Taxonomy) -> list:
    """The tags that fit the identity's top-level branch (``[tag_gates]``)."""
    if identity.taxonomy_id is None:
        return tags
    branch = tree.top_level(identity.taxonomy_id)
    gates = rules()["tag_gates"]
    domains = vocab.load("tagger", "vocab/tags.toml")["domains"]
    kept = []
    for tag in tags:
        allowed = gates["groups"].get(tag.group)
        for domain, names in domains.items():
            if tag.name in names:
                allowed = gates["domains"].get(domain, allowed)
        if allowed is None or branch in allowed:
            kept.append(tag)
    return kept


def outside_known_domains(identity: Identity | None, tree: Taxonomy | None = None) -> bool:
    """Whether a sure identity lies outside every branch the shipped fashion and grocery
    vocabularies cover (``[tag_gates.domains]``): then no garment part, fashion type or
    grocery type can describe the product."""
    if identity is None or identity.uncertain or identity.taxonomy_id is None:
        return False
    branch = (tree or taxonomy()).top_level(identity.taxonomy_id)
    return all(branch not in branches for branches in rules()["tag_gates"]["domains"].values())


def lacks_garment_parts(identity: Identity | None, tree: Taxonomy | None = None) -> bool:
    """Whether a sure identity lies outside the branches whose products have garment, shoe
    or bag parts (``[guard] part_branches``)."""
    if identity is None or identity.uncertain or identity.taxonomy_id is None:
        return False
    branch = (tree or taxonomy()).top_level(identity.taxonomy_id)
    return branch not in rules()["guard"]["part_branches"]
