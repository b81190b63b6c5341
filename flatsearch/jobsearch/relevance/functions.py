"""Job functions read from titles, their neighbours, and the words of a role.

The grading policy asks first whether a job does the work the seeker asked for.
A title is mapped to one function by ordered rules (the first match decides, so
"product marketing manager" is marketing and "engineering manager" is software);
two functions are either the same, neighbours (work a seeker in one would often
consider, e.g. data science and machine learning), or unrelated.
"""
from __future__ import annotations

import re

from ..gazetteer import fold

# Checked in this order: the first pattern that matches decides.
_FUNCTION_RULES = (
    ("solutions_engineering", r"\b(solutions? (engineer|architect|consultant)|sales engineer|pre-?sales|forward deployed)"),
    ("security", r"\b(security|infosec|cyber|threat|detection and response|penetration|appsec|soc analyst)"),
    ("data_engineering", r"\b(data engineer|analytics engineer|data platform|etl|data infrastructure|data warehouse)"),
    ("machine_learning", r"\b(machine learning|ml engineer|mle|ai engineer|deep learning|computer vision|nlp|research scientist|"
                         r"research engineer|applied scientist|ai research|artificial intelligence|llm|\bml\b|\bai\b)"),
    ("data_science", r"\b(data scien|statistic|quantitative|econometric|decision scien)"),
    ("data_analysis", r"\b(data analy|business intelligence|bi (analyst|developer|engineer)|analytics|insights analyst|reporting analyst)"),
    ("design", r"\b(design|ux|ui\b|user research|illustrat|creative director|art director)"),
    ("product_management", r"\b(product (manager|management|owner|lead|director)|head of product|vp,? product|chief product)"),
    ("marketing", r"\b(marketing|brand|content|communications|seo|growth market|social media|demand gen|public relations|\bpr\b|copywrit|"
                  r"editor|community manager|events?\b|campaign)"),
    ("program_management", r"\b(program manager|project manager|programme manager|tpm|scrum master|delivery manager|pmo)"),
    ("people", r"\b(recruit|talent|sourcer|human resources|\bhr\b|people (partner|operations|business|team|ops)|hrbp|"
               r"compensation|benefits|learning and development|workplace)"),
    ("finance", r"\b(account(ant|ing)|financ|fp&a|controller|tax|treasur|audit|payroll|billing|revenue accountant|"
                r"investor relations|procurement|actuar)"),
    ("legal_compliance", r"\b(counsel|legal|attorney|lawyer|paralegal|compliance|regulatory|risk|privacy|policy|aml|kyc|fraud)"),
    ("customer_success", r"\b(customer (success|support|experience|care|service|operations)|support (specialist|engineer|agent|"
                         r"representative)|implementation|onboarding|technical account manager|user operations|client (services|success))"),
    ("sales", r"\b(account executive|sales|business development|\bsdr\b|\bbdr\b|account manager|partnerships?|alliances|"
              r"channel|revenue|go-to-market|gtm|commercial)"),
    ("infrastructure", r"\b(site reliability|\bsre\b|devops|infrastructure|platform engineer|cloud|systems? engineer|network|"
                       r"reliability|production engineer|database administrator|dba)"),
    ("hardware", r"\b(electrical|mechanical|hardware|firmware|embedded|avionics|manufacturing engineer|propulsion|rf engineer|"
                 r"asic|fpga|silicon|structures engineer|test engineer|robotics|materials)"),
    ("it_support", r"\b(it (support|specialist|technician|administrator|analyst|manager)|help ?desk|desktop support|"
                   r"systems administrator|sysadmin|technical support|business technology)"),
    ("healthcare", r"\b(nurse|physician|optometrist|clinical|clinician|therapist|pharmac|medical|doctor|dentist|care coordinator|"
                   r"psychiatr|psycholog|counselor|\brn\b|\bnp\b|health)"),
    ("retail", r"\b(keyholder|store|retail|cashier|barista|shift (lead|supervisor)|sales associate|stylist|merchandis|warehouse associate)"),
    ("operations", r"\b(operations|supply chain|logistic|warehouse|inventory|fulfil?ment|procurement|strategy|bizops|business operations|"
                   r"facilities|dispatch|fleet|chief of staff)"),
    ("software_engineering", r"\b(software|developer|engineer|engineering|programmer|backend|back-end|frontend|front-end|full[- ]?stack|"
                             r"\bswe\b|\bsde\b|ios|android|mobile|web|coder|devex|developer experience)"),
)
_TEAM_SUFFIX = re.compile(r"\s*(?:,|\s[-–|]\s|\()\s*")
_COMPILED = tuple((function, re.compile(pattern, re.IGNORECASE)) for function, pattern in _FUNCTION_RULES)
FUNCTIONS = tuple(function for function, _ in _FUNCTION_RULES)

_NEIGHBOURS = (
    ("software_engineering", "infrastructure"), ("software_engineering", "machine_learning"),
    ("software_engineering", "data_engineering"), ("software_engineering", "security"),
    ("software_engineering", "solutions_engineering"), ("software_engineering", "hardware"),
    ("data_science", "machine_learning"), ("data_science", "data_analysis"), ("data_science", "data_engineering"),
    ("data_engineering", "data_analysis"), ("data_engineering", "infrastructure"), ("machine_learning", "data_engineering"),
    ("infrastructure", "security"), ("infrastructure", "it_support"), ("security", "it_support"),
    ("product_management", "program_management"), ("product_management", "design"),
    ("program_management", "operations"), ("design", "marketing"), ("marketing", "sales"),
    ("sales", "customer_success"), ("sales", "solutions_engineering"), ("customer_success", "operations"),
    ("customer_success", "solutions_engineering"), ("finance", "legal_compliance"), ("finance", "operations"),
    ("people", "operations"), ("retail", "operations"), ("retail", "customer_success"),
)
NEIGHBOURS = frozenset(pair for a, b in _NEIGHBOURS for pair in ((a, b), (b, a)))

# Words that name a level or are filler in a role, not what the work is.
_LEVEL_WORDS = frozenset("""senior sr snr junior jr staff principal lead head chief associate entry level mid intern internship
graduate new grad ii iii iv i 1 2 3 distinguished fellow expert""".split())
_ROLE_FILLER = frozenset("""a an the and or of for in at on with to jobs job roles role positions position openings opening work
remote hybrid onsite team""".split())
# Inflections folded together so "engineering" covers "engineer" and "analytics" covers "analyst".
_STEMS = (("engineering", "engineer"), ("engineers", "engineer"), ("analytics", "analyst"), ("analysts", "analyst"),
          ("analysis", "analyst"), ("scientists", "scientist"), ("science", "scientist"), ("developers", "developer"),
          ("development", "developer"), ("designers", "designer"), ("design", "designer"), ("managers", "manager"),
          ("management", "manager"), ("marketer", "marketing"), ("recruiting", "recruiter"), ("recruitment", "recruiter"),
          ("accounting", "accountant"), ("sales", "sales"), ("operations", "operations"))
_STEM = dict(_STEMS)


def job_function(text: str) -> str | None:
    """The function a title (or a query's role words) names, or None when no rule matches.

    Example:
        >>> job_function("Senior Product Marketing Manager"), job_function("Staff Backend Engineer, Payments")
        ('marketing', 'software_engineering')
        >>> job_function("Data Analyst, Payments Platform"), job_function("environment") is None
        ('data_analysis', True)
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a string, got {type(text).__name__}")
    for function, pattern in _COMPILED:
        if pattern.search(text):
            return function
    return None


def title_function(title: str, department: str = "") -> str | None:
    """The function of a posting: from the title's head (before a comma or dash, which usually names the
    team), else the whole title, else the department.

    Example:
        >>> title_function("Software Engineer, Infrastructure"), title_function("Associate", "Recruiting")
        ('software_engineering', 'people')
    """
    head = _TEAM_SUFFIX.split(title, maxsplit=1)[0]
    return job_function(head) or job_function(title) or (job_function(department) if department else None)


def function_match(query_function: str | None, job_function_: str | None) -> float | None:
    """1 for the same function, 0.5 for neighbours, 0 for unrelated, None when the query names none."""
    if query_function is None:
        return None
    if job_function_ is None:
        return 0.0
    if query_function == job_function_:
        return 1.0
    return 0.5 if (query_function, job_function_) in NEIGHBOURS else 0.0


def role_words(text: str) -> frozenset[str]:
    """The content words of a role, folded and stemmed, without level words and filler.

    Example:
        >>> sorted(role_words("Senior Data Engineering roles"))
        ['data', 'engineer']
    """
    words = re.findall(r"[a-z0-9+#]+", fold(text))
    return frozenset(_STEM.get(w, w) for w in words if w not in _LEVEL_WORDS and w not in _ROLE_FILLER and len(w) > 1)


def title_coverage(query_words: frozenset[str], title: str) -> float | None:
    """The share of the query's role words found in the title; None when the query has none."""
    if not query_words:
        return None
    return len(query_words & role_words(title)) / len(query_words)
