"""Vocabulary tables of the demo population: its generator (`matching.devtools.population`)
and the search vocabulary (`matching.core.domain.vocabulary`) read them.

Everything here is fictitious but shaped like real data: industries with their roles, skills
and companies, cities with coordinates and languages, interests grouped in themes, networking
goals, names and bio sentence templates. Tags are already lower case (the profile validators
would lower-case them anyway; the generator builds profiles without validation, so the tables
must hold normalised values).
"""

from __future__ import annotations

from dataclasses import dataclass

from matching.core.domain.profile import CompanySize, JobLevel


@dataclass(frozen=True, slots=True)
class City:
    """A metro area people live around; `languages` are the local ones, the first is primary."""

    name: str
    country: str
    lat: float
    lon: float
    languages: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    size: CompanySize


@dataclass(frozen=True, slots=True)
class Role:
    """A role family: its mid-level title, the area it rolls up to (for manager/director/VP
    titles and intern titles) and the skills people in it typically list."""

    title: str
    area: str
    skills: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Industry:
    name: str
    weight: float
    roles: tuple[Role, ...]
    shared_skills: tuple[str, ...]
    executive_titles: tuple[str, ...]
    companies: tuple[Company, ...]
    theme_boost: tuple[tuple[str, float], ...] = ()


def _r(title: str, area: str, skills: str) -> Role:
    return Role(title, area, tuple(s.strip() for s in skills.split(",")))


def _c(*pairs: tuple[str, CompanySize]) -> tuple[Company, ...]:
    return tuple(Company(name, size) for name, size in pairs)


def _s(skills: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in skills.split(","))


INDUSTRY_TABLE: tuple[Industry, ...] = (
    Industry(
        "software",
        14,
        (
            _r(
                "Software Engineer",
                "Engineering",
                "python, go, distributed systems, api design, postgresql",
            ),
            _r("Data Engineer", "Data", "sql, spark, airflow, data modeling, dbt"),
            _r(
                "Product Manager",
                "Product",
                "product strategy, roadmapping, user research, a/b testing, analytics",
            ),
            _r("Machine Learning Engineer", "AI", "machine learning, pytorch, nlp, mlops, python"),
            _r(
                "DevOps Engineer",
                "Infrastructure",
                "kubernetes, terraform, aws, ci/cd, observability",
            ),
        ),
        _s("agile, system design, git, cloud computing, code review"),
        ("CTO", "CEO", "Chief Product Officer"),
        _c(
            ("Nimbus Analytics", "201-1000"),
            ("Stackwise", "51-200"),
            ("Lumen Labs", "11-50"),
            ("Orbitware", "5001+"),
            ("Quillbyte", "1-10"),
            ("Granite Cloud", "1001-5000"),
        ),
        (("tech", 2.5), ("games", 1.4)),
    ),
    Industry(
        "fintech",
        8,
        (
            _r(
                "Backend Engineer",
                "Engineering",
                "java, kotlin, payments, api design, microservices",
            ),
            _r("Risk Analyst", "Risk", "credit risk, fraud detection, sql, statistics, python"),
            _r(
                "Product Manager",
                "Product",
                "product strategy, roadmapping, payments, user research, analytics",
            ),
            _r(
                "Compliance Specialist",
                "Compliance",
                "kyc, aml, regulatory compliance, risk assessment, policy writing",
            ),
        ),
        _s("financial modeling, payments, blockchain, open banking, data analysis"),
        ("CFO", "Chief Risk Officer", "CEO"),
        _c(
            ("Ledgerly", "201-1000"),
            ("Copperleaf Bank", "5001+"),
            ("Pennywise Pay", "51-200"),
            ("Tallyhawk", "11-50"),
            ("Northvault Capital", "1001-5000"),
            ("Coinpath", "1-10"),
        ),
        (("tech", 1.8),),
    ),
    Industry(
        "healthcare",
        8,
        (
            _r(
                "Registered Nurse",
                "Nursing",
                "patient care, triage, clinical documentation, iv therapy, care coordination",
            ),
            _r(
                "Physician",
                "Medicine",
                "internal medicine, diagnostics, patient care, clinical research, telemedicine",
            ),
            _r(
                "Health Data Analyst",
                "Analytics",
                "sql, epidemiology, tableau, statistics, ehr systems",
            ),
            _r(
                "Healthcare Administrator",
                "Operations",
                "operations management, budgeting, compliance, scheduling, quality improvement",
            ),
        ),
        _s("hipaa, patient safety, electronic health records, public health, healthcare policy"),
        ("Chief Medical Officer", "Chief Nursing Officer", "CEO"),
        _c(
            ("Riverside Health Partners", "5001+"),
            ("Carewell Clinics", "1001-5000"),
            ("Pulsepoint Medical", "201-1000"),
            ("Bluebird Telehealth", "51-200"),
            ("Meridian Care Group", "1001-5000"),
            ("Homebase Nursing", "11-50"),
        ),
        (("wellness", 2.0),),
    ),
    Industry(
        "biotech",
        4,
        (
            _r(
                "Research Scientist",
                "Research",
                "molecular biology, crispr, cell culture, assay development, genomics",
            ),
            _r(
                "Bioinformatician",
                "Computational Biology",
                "bioinformatics, python, r, genomics, machine learning",
            ),
            _r(
                "Clinical Research Associate",
                "Clinical Operations",
                "clinical trials, gcp, regulatory affairs, data management, site monitoring",
            ),
            _r(
                "Process Engineer",
                "Manufacturing",
                "bioprocessing, gmp, process development, quality control, scale-up",
            ),
        ),
        _s("lab management, scientific writing, statistics, drug discovery, protein engineering"),
        ("Chief Scientific Officer", "Chief Medical Officer", "CEO"),
        _c(
            ("Helix Forge", "201-1000"),
            ("Verdant Therapeutics", "51-200"),
            ("Cellwright Bio", "11-50"),
            ("Aurora Genomics", "1001-5000"),
            ("Proteon Labs", "1-10"),
            ("Bright Peptide", "51-200"),
        ),
        (("reading", 1.6), ("outdoors", 1.3)),
    ),
    Industry(
        "education",
        6,
        (
            _r(
                "Teacher",
                "Teaching",
                "curriculum design, classroom management, lesson planning, assessment, "
                "differentiated instruction",
            ),
            _r(
                "Instructional Designer",
                "Learning Design",
                "instructional design, e-learning, articulate storyline, learning analytics, "
                "storyboarding",
            ),
            _r(
                "Education Researcher",
                "Research",
                "qualitative research, statistics, grant writing, survey design, academic writing",
            ),
            _r(
                "Program Coordinator",
                "Programs",
                "program management, stakeholder management, event planning, budgeting, "
                "community outreach",
            ),
        ),
        _s("edtech, pedagogy, mentoring, public speaking, student engagement"),
        ("Head of School", "Chief Academic Officer", "Superintendent"),
        _c(
            ("Brightpath Academy", "201-1000"),
            ("Lernwerk", "51-200"),
            ("Open Quill Learning", "11-50"),
            ("Northgate University", "5001+"),
            ("Sparkclass", "1-10"),
            ("Maple Grove Schools", "1001-5000"),
        ),
        (("reading", 2.0), ("social impact", 1.6)),
    ),
    Industry(
        "design",
        5,
        (
            _r(
                "Product Designer",
                "Design",
                "figma, interaction design, prototyping, user research, design systems",
            ),
            _r(
                "UX Researcher",
                "Research",
                "user research, usability testing, interviewing, survey design, journey mapping",
            ),
            _r(
                "Brand Designer",
                "Brand",
                "branding, typography, illustration, adobe creative suite, visual identity",
            ),
            _r(
                "Motion Designer",
                "Motion",
                "motion graphics, after effects, animation, 3d modeling, storyboarding",
            ),
        ),
        _s("design thinking, accessibility, creative direction, visual design, sketching"),
        ("Chief Design Officer", "Executive Creative Director"),
        _c(
            ("Studio Kite", "11-50"),
            ("Fieldnote Design", "1-10"),
            ("Pixel & Pine", "51-200"),
            ("Monocle Works", "201-1000"),
            ("Paperplane Studio", "11-50"),
            ("Hue House", "51-200"),
        ),
        (("arts", 2.8), ("music", 1.4)),
    ),
    Industry(
        "marketing",
        7,
        (
            _r(
                "Growth Marketer",
                "Growth",
                "growth marketing, seo, paid acquisition, a/b testing, analytics",
            ),
            _r(
                "Content Strategist",
                "Content",
                "content strategy, copywriting, seo, editorial planning, storytelling",
            ),
            _r(
                "Brand Strategist",
                "Brand",
                "brand strategy, market research, campaign management, positioning, budgeting",
            ),
            _r(
                "Marketing Analyst",
                "Marketing Analytics",
                "sql, google analytics, attribution modeling, tableau, forecasting",
            ),
        ),
        _s("social media, email marketing, marketing automation, hubspot, customer segmentation"),
        ("CMO", "Chief Growth Officer"),
        _c(
            ("Loudbird Agency", "51-200"),
            ("Funnelcraft", "11-50"),
            ("Brightsignal Media Group", "201-1000"),
            ("Evergreen Growth", "1-10"),
            ("Megaphone Collective", "51-200"),
            ("Clearsky Brands", "1001-5000"),
        ),
        (("food", 1.4), ("arts", 1.4)),
    ),
    Industry(
        "sales",
        7,
        (
            _r(
                "Account Executive",
                "Sales",
                "negotiation, salesforce, pipeline management, closing, saas sales",
            ),
            _r(
                "Sales Development Representative",
                "Sales Development",
                "cold outreach, lead generation, prospecting, crm, cold calling",
            ),
            _r(
                "Customer Success Specialist",
                "Customer Success",
                "account management, onboarding, churn reduction, customer relationships, "
                "upselling",
            ),
            _r(
                "Sales Engineer",
                "Solutions",
                "technical demos, solution selling, rfp responses, product knowledge, "
                "presentation skills",
            ),
        ),
        _s("crm, forecasting, relationship building, b2b sales, hubspot"),
        ("Chief Revenue Officer", "Chief Customer Officer"),
        _c(
            ("Closewell", "51-200"),
            ("Pipeline Partners", "11-50"),
            ("Revenuity", "201-1000"),
            ("Quotaline", "1001-5000"),
            ("Dealcraft", "51-200"),
            ("Cold Brew Outreach", "1-10"),
        ),
        (("sports", 2.0), ("food", 1.3)),
    ),
    Industry(
        "consulting",
        7,
        (
            _r(
                "Management Consultant",
                "Strategy",
                "strategy, business analysis, powerpoint, market sizing, stakeholder management",
            ),
            _r(
                "Technology Consultant",
                "Technology",
                "enterprise architecture, digital transformation, cloud migration, erp, "
                "change management",
            ),
            _r(
                "Operations Consultant",
                "Operations",
                "lean, supply chain, process improvement, six sigma, operations management",
            ),
            _r(
                "Financial Analyst",
                "Finance",
                "financial modeling, valuation, excel, due diligence, m&a",
            ),
        ),
        _s("client management, problem solving, presentation skills, project management, excel"),
        ("Managing Partner", "Senior Partner"),
        _c(
            ("Harbor & Finch", "1001-5000"),
            ("Keystone Advisory", "201-1000"),
            ("Bluepeak Consulting", "5001+"),
            ("Ridgeline Partners", "51-200"),
            ("Clearview Strategy", "11-50"),
            ("Oakmont Group", "1-10"),
        ),
        (("sports", 1.5), ("food", 1.3)),
    ),
    Industry(
        "manufacturing",
        5,
        (
            _r(
                "Mechanical Engineer",
                "Engineering",
                "cad, solidworks, mechanical design, fea, prototyping",
            ),
            _r(
                "Quality Engineer",
                "Quality",
                "quality assurance, six sigma, root cause analysis, iso 9001, spc",
            ),
            _r(
                "Supply Chain Analyst",
                "Supply Chain",
                "supply chain, procurement, inventory management, forecasting, sap",
            ),
            _r(
                "Automation Engineer",
                "Automation",
                "plc programming, robotics, industrial automation, scada, controls engineering",
            ),
        ),
        _s(
            "lean manufacturing, safety, process improvement, continuous improvement, "
            "production planning"
        ),
        ("COO", "CEO", "Chief Operating Officer"),
        _c(
            ("Ironbridge Industries", "5001+"),
            ("Precision Forge", "1001-5000"),
            ("Anvil Robotics", "201-1000"),
            ("Copperline Components", "51-200"),
            ("Tidewater Plastics", "201-1000"),
            ("Sprocket Works", "11-50"),
        ),
        (("tech", 1.6), ("outdoors", 1.3)),
    ),
    Industry(
        "energy",
        4,
        (
            _r(
                "Energy Analyst",
                "Analytics",
                "energy markets, forecasting, python, data analysis, power systems",
            ),
            _r(
                "Electrical Engineer",
                "Engineering",
                "power systems, grid integration, electrical design, matlab, substations",
            ),
            _r(
                "Project Developer",
                "Project Development",
                "project finance, permitting, site selection, stakeholder management, ppas",
            ),
            _r(
                "Sustainability Specialist",
                "Sustainability",
                "esg reporting, carbon accounting, life cycle assessment, "
                "sustainability strategy, climate policy",
            ),
        ),
        _s("renewable energy, solar, wind energy, battery storage, energy efficiency"),
        ("CEO", "CTO", "Chief Sustainability Officer"),
        _c(
            ("Sunfield Power", "1001-5000"),
            ("Gridwise Energy", "201-1000"),
            ("Northwind Renewables", "51-200"),
            ("Voltaic Storage", "11-50"),
            ("Tidal Current Co", "1-10"),
            ("Helios Utilities", "5001+"),
        ),
        (("social impact", 2.2), ("outdoors", 1.6)),
    ),
    Industry(
        "media",
        5,
        (
            _r(
                "Journalist",
                "Editorial",
                "reporting, interviewing, fact checking, writing, editing",
            ),
            _r(
                "Video Producer",
                "Production",
                "video production, premiere pro, storytelling, directing, editing",
            ),
            _r(
                "Audience Editor",
                "Audience",
                "social media, audience development, seo, analytics, newsletters",
            ),
            _r(
                "Podcast Producer",
                "Audio",
                "audio editing, podcasting, storytelling, interviewing, sound design",
            ),
        ),
        _s("content creation, copywriting, publishing, media relations, storytelling"),
        ("Editor-in-Chief", "Chief Content Officer"),
        _c(
            ("The Daily Lantern", "201-1000"),
            ("Soundwave Podcasts", "11-50"),
            ("Framelight Films", "51-200"),
            ("Metro Ledger", "1001-5000"),
            ("Inkwell Press", "51-200"),
            ("Signal Street Studios", "1-10"),
        ),
        (("arts", 2.0), ("reading", 1.8), ("music", 1.4)),
    ),
    Industry(
        "legal",
        3,
        (
            _r(
                "Attorney",
                "Legal",
                "litigation, legal research, contract drafting, negotiation, legal writing",
            ),
            _r(
                "Paralegal",
                "Legal Operations",
                "legal research, document review, case management, e-discovery, "
                "contract management",
            ),
            _r(
                "Corporate Counsel",
                "Corporate Legal",
                "corporate law, m&a, contract negotiation, governance, compliance",
            ),
            _r(
                "Privacy Analyst",
                "Privacy",
                "gdpr, data protection, privacy law, risk assessment, policy writing",
            ),
        ),
        _s(
            "regulatory compliance, intellectual property, employment law, dispute resolution, "
            "legal tech"
        ),
        ("General Counsel", "Managing Partner"),
        _c(
            ("Whitmore & Hale LLP", "201-1000"),
            ("Castellan Law", "51-200"),
            ("Brightline Legal", "11-50"),
            ("Sterling Ames & Co", "1001-5000"),
            ("Fairway Counsel", "1-10"),
            ("Ledgerstone Legal", "51-200"),
        ),
        (("reading", 1.8),),
    ),
    Industry(
        "real estate",
        4,
        (
            _r(
                "Real Estate Agent",
                "Brokerage",
                "negotiation, property valuation, client relationships, lead generation, "
                "market analysis",
            ),
            _r(
                "Property Coordinator",
                "Property Management",
                "property management, tenant relations, lease administration, "
                "maintenance planning, budgeting",
            ),
            _r(
                "Real Estate Analyst",
                "Investments",
                "financial modeling, underwriting, market analysis, argus, excel",
            ),
            _r(
                "Architect",
                "Architecture",
                "architecture, autocad, revit, urban planning, sustainable design",
            ),
        ),
        _s(
            "commercial real estate, proptech, zoning, construction management, real estate finance"
        ),
        ("Managing Director", "Principal"),
        _c(
            ("Cornerstone Realty", "201-1000"),
            ("Urbanest", "51-200"),
            ("Keyhaven Properties", "1001-5000"),
            ("Brickfield Partners", "11-50"),
            ("Skyline Estates", "5001+"),
            ("Porchlight Homes", "1-10"),
        ),
        (("sports", 1.4), ("food", 1.3)),
    ),
    Industry(
        "nonprofit",
        4,
        (
            _r(
                "Program Officer",
                "Programs",
                "program management, monitoring and evaluation, community engagement, budgeting, "
                "impact measurement",
            ),
            _r(
                "Development Officer",
                "Development",
                "fundraising, grant writing, donor relations, event planning, crm",
            ),
            _r(
                "Policy Analyst",
                "Policy",
                "policy analysis, research, advocacy, writing, stakeholder management",
            ),
            _r(
                "Volunteer Coordinator",
                "Community",
                "volunteer management, community organizing, event planning, outreach, training",
            ),
        ),
        _s("nonprofit management, social impact, grant writing, advocacy, partnerships"),
        ("Executive Director", "CEO"),
        _c(
            ("Open Doors Foundation", "51-200"),
            ("Green Commons", "11-50"),
            ("Reading Roots", "11-50"),
            ("Clean Water Collective", "201-1000"),
            ("Youth Forward Alliance", "51-200"),
            ("Neighbourly Trust", "1-10"),
        ),
        (("social impact", 3.0), ("outdoors", 1.3)),
    ),
    Industry(
        "retail",
        6,
        (
            _r(
                "Store Associate",
                "Store Operations",
                "merchandising, customer service, inventory management, visual merchandising, "
                "team leadership",
            ),
            _r(
                "Buyer",
                "Merchandising",
                "buying, trend forecasting, vendor management, assortment planning, negotiation",
            ),
            _r(
                "E-commerce Specialist",
                "E-commerce",
                "e-commerce, shopify, conversion optimization, digital marketing, analytics",
            ),
            _r(
                "Supply Chain Planner",
                "Supply Chain",
                "demand planning, inventory management, logistics, forecasting, sap",
            ),
        ),
        _s(
            "retail analytics, customer experience, omnichannel, pricing strategy, "
            "category management"
        ),
        ("COO", "CEO", "Chief Merchandising Officer"),
        _c(
            ("Market & Maple", "5001+"),
            ("Threadline Apparel", "1001-5000"),
            ("Basketful", "201-1000"),
            ("Corner Goods", "51-200"),
            ("Homestead Living", "201-1000"),
            ("Little Fern Boutique", "1-10"),
        ),
        (("food", 1.6), ("arts", 1.3)),
    ),
)

# How the industry reads inside a sentence ("ten years in the legal sector").
INDUSTRY_PHRASE: dict[str, str] = {
    "legal": "the legal sector",
    "nonprofit": "the nonprofit sector",
    "energy": "the energy sector",
    "healthcare": "healthcare",
}

SENIOR_SKILLS: tuple[str, ...] = (
    "leadership",
    "people management",
    "team building",
    "strategic planning",
    "coaching",
)
FOUNDER_TITLES: tuple[str, ...] = ("Founder", "Co-founder & CEO", "Co-founder & CTO", "Co-founder")

# (level, weight, mean age, sd of age, youngest age); skewed to mid/senior.
JOB_LEVEL_TABLE: tuple[tuple[JobLevel, float, float, float, int], ...] = (
    ("intern", 3, 22, 1.5, 21),
    ("entry", 10, 25, 2.5, 21),
    ("mid", 27, 31, 4.5, 22),
    ("senior", 25, 37, 5.5, 25),
    ("lead", 10, 39, 6, 27),
    ("manager", 9, 41, 6.5, 27),
    ("director", 6, 45, 7, 31),
    ("vp", 3, 48, 7, 33),
    ("executive", 2, 52, 7, 35),
    ("founder", 5, 38, 9, 21),
)

# How many people each company size attracts relative to the others in its industry.
COMPANY_SIZE_WEIGHT: dict[CompanySize, float] = {
    "1-10": 1,
    "11-50": 3,
    "51-200": 7,
    "201-1000": 14,
    "1001-5000": 24,
    "5001+": 36,
}

CITIES: tuple[City, ...] = (
    City("San Francisco", "United States", 37.7749, -122.4194, ("english",), 9),
    City("New York", "United States", 40.7128, -74.0060, ("english",), 12),
    City("London", "United Kingdom", 51.5074, -0.1278, ("english",), 12),
    City("Berlin", "Germany", 52.5200, 13.4050, ("german",), 8),
    City("Paris", "France", 48.8566, 2.3522, ("french",), 8),
    City("Amsterdam", "Netherlands", 52.3676, 4.9041, ("dutch",), 5),
    City("Toronto", "Canada", 43.6532, -79.3832, ("english", "french"), 7),
    City("Austin", "United States", 30.2672, -97.7431, ("english",), 6),
    City("Bangalore", "India", 12.9716, 77.5946, ("english", "hindi", "kannada"), 11),
    City("Singapore", "Singapore", 1.3521, 103.8198, ("english", "mandarin", "malay"), 7),
    City("Sydney", "Australia", -33.8688, 151.2093, ("english",), 6),
    City("Sao Paulo", "Brazil", -23.5505, -46.6333, ("portuguese",), 9),
)
WORLD_LANGUAGES: tuple[str, ...] = (
    "spanish",
    "french",
    "german",
    "mandarin",
    "hindi",
    "japanese",
    "portuguese",
    "italian",
    "arabic",
    "korean",
    "russian",
    "turkish",
)

# Interest themes: each person favours one or two, so interests carry structure.
INTEREST_THEMES: dict[str, tuple[str, ...]] = {
    "outdoors": (
        "hiking",
        "climbing",
        "trail running",
        "cycling",
        "camping",
        "surfing",
        "kayaking",
        "skiing",
    ),
    "arts": (
        "painting",
        "photography",
        "pottery",
        "theatre",
        "drawing",
        "sculpture",
        "film",
        "poetry",
    ),
    "music": ("guitar", "piano", "jazz", "live music", "singing", "djing", "classical music"),
    "tech": (
        "coding",
        "open source",
        "ai",
        "robotics",
        "gadgets",
        "3d printing",
        "electronics",
        "crypto",
    ),
    "wellness": (
        "yoga",
        "meditation",
        "running",
        "pilates",
        "mindfulness",
        "swimming",
        "nutrition",
    ),
    "food": (
        "cooking",
        "baking",
        "coffee",
        "wine tasting",
        "craft beer",
        "vegan food",
        "street food",
    ),
    "games": (
        "board games",
        "chess",
        "video games",
        "tabletop rpgs",
        "puzzles",
        "poker",
        "esports",
    ),
    "sports": (
        "football",
        "basketball",
        "tennis",
        "padel",
        "volleyball",
        "cricket",
        "martial arts",
    ),
    "reading": (
        "books",
        "history",
        "philosophy",
        "science fiction",
        "writing",
        "podcasts",
        "languages",
    ),
    "social impact": (
        "volunteering",
        "sustainability",
        "mentoring",
        "community building",
        "climate action",
        "urban gardening",
    ),
}
THEME_WEIGHT: dict[str, float] = {
    "outdoors": 12,
    "arts": 8,
    "music": 8,
    "tech": 10,
    "wellness": 11,
    "food": 11,
    "games": 8,
    "sports": 10,
    "reading": 9,
    "social impact": 6,
}

# How an interest reads after "I'm usually ..." (interests ending in -ing read as themselves).
ACTIVITY: dict[str, str] = {
    "photography": "taking photos",
    "pottery": "at the pottery wheel",
    "theatre": "at the theatre",
    "sculpture": "sculpting",
    "film": "watching old films",
    "poetry": "writing poetry",
    "guitar": "playing guitar",
    "piano": "playing piano",
    "jazz": "listening to jazz",
    "live music": "at a gig",
    "djing": "DJing",
    "classical music": "at a concert",
    "open source": "contributing to open source",
    "ai": "tinkering with AI",
    "robotics": "building robots",
    "gadgets": "tinkering with gadgets",
    "3d printing": "3D printing something",
    "electronics": "soldering electronics",
    "crypto": "reading about crypto",
    "yoga": "doing yoga",
    "meditation": "meditating",
    "pilates": "at pilates",
    "mindfulness": "practising mindfulness",
    "nutrition": "experimenting in the kitchen",
    "coffee": "hunting for good coffee",
    "craft beer": "trying craft beer",
    "vegan food": "cooking vegan food",
    "street food": "exploring street food",
    "board games": "playing board games",
    "chess": "playing chess",
    "video games": "playing video games",
    "tabletop rpgs": "running a tabletop RPG",
    "puzzles": "doing puzzles",
    "poker": "playing poker",
    "esports": "watching esports",
    "football": "playing football",
    "basketball": "shooting hoops",
    "tennis": "playing tennis",
    "padel": "playing padel",
    "volleyball": "playing volleyball",
    "cricket": "playing cricket",
    "martial arts": "training martial arts",
    "books": "reading",
    "history": "reading history",
    "philosophy": "reading philosophy",
    "science fiction": "reading science fiction",
    "podcasts": "listening to podcasts",
    "languages": "learning languages",
    "sustainability": "working on sustainability projects",
    "climate action": "organising for climate action",
}
# How an interest reads in a list of nouns ("I'm really into AI, chess and tabletop RPGs").
DISPLAY: dict[str, str] = {
    "ai": "AI",
    "djing": "DJing",
    "3d printing": "3D printing",
    "tabletop rpgs": "tabletop RPGs",
}

NETWORKING_GOALS: tuple[str, ...] = (
    "mentorship",
    "find a mentor",
    "find a cofounder",
    "hiring",
    "job seeking",
    "investing",
    "fundraising",
    "learning",
    "friendship",
    "partnerships",
    "collaboration",
)
# What a person with a goal looks for in others (the preference side of the goal).
GOAL_COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "mentorship": ("find a mentor",),
    "find a mentor": ("mentorship",),
    "find a cofounder": ("find a cofounder",),
    "hiring": ("job seeking",),
    "job seeking": ("hiring",),
    "investing": ("fundraising",),
    "fundraising": ("investing",),
    "learning": ("mentorship", "learning"),
    "friendship": ("friendship",),
    "partnerships": ("partnerships",),
    "collaboration": ("collaboration",),
}
# Goal weights by career stage, in NETWORKING_GOALS order.
GOAL_WEIGHTS: dict[str, tuple[float, ...]] = {
    "junior": (0.5, 10, 1, 0.3, 8, 0.1, 0.1, 10, 5, 1, 3),
    "mid": (5, 4, 2, 3, 4, 0.5, 0.3, 7, 5, 3, 5),
    "manager": (8, 1.5, 0.5, 8, 1.5, 1.5, 0.5, 3, 3, 5, 3),
    "executive": (7, 0.3, 0.5, 6, 0.3, 6, 2, 1.5, 2, 6, 2),
    "founder": (3, 4, 5, 7, 0.2, 1, 8, 3, 2, 5, 3),
}
STAGE_OF_LEVEL: dict[JobLevel, str] = {
    "intern": "junior",
    "entry": "junior",
    "mid": "mid",
    "senior": "mid",
    "lead": "mid",
    "manager": "manager",
    "director": "manager",
    "vp": "manager",
    "executive": "executive",
    "founder": "founder",
}

FEMALE_NAMES: tuple[str, ...] = (
    "Aisha",
    "Amara",
    "Ana",
    "Ananya",
    "Astrid",
    "Beatriz",
    "Camila",
    "Chiara",
    "Chloe",
    "Claire",
    "Daniela",
    "Elif",
    "Emma",
    "Fatima",
    "Freya",
    "Grace",
    "Hana",
    "Hannah",
    "Ife",
    "Ingrid",
    "Isabella",
    "Jia",
    "Keiko",
    "Laila",
    "Lena",
    "Lucia",
    "Marta",
    "Maya",
    "Mei",
    "Nadia",
    "Ngozi",
    "Noor",
    "Olivia",
    "Priya",
    "Rosa",
    "Sakura",
    "Sofia",
    "Yasmin",
    "Zara",
    "Zeynep",
    "Amelia",
    "Thandiwe",
    "Valentina",
    "Ji-woo",
    "Aroha",
    "Leilani",
    "Siobhan",
)
MALE_NAMES: tuple[str, ...] = (
    "Ahmed",
    "Alejandro",
    "Arjun",
    "Ben",
    "Carlos",
    "Chen",
    "David",
    "Diego",
    "Emeka",
    "Felix",
    "Hiroshi",
    "Ibrahim",
    "James",
    "Javier",
    "Jonas",
    "Kenji",
    "Kofi",
    "Kwame",
    "Liam",
    "Luca",
    "Lucas",
    "Malik",
    "Mateo",
    "Mohammed",
    "Noah",
    "Omar",
    "Pedro",
    "Pierre",
    "Rahul",
    "Raj",
    "Ravi",
    "Samuel",
    "Sven",
    "Tariq",
    "Thomas",
    "Tomasz",
    "Wei",
    "Yusuf",
    "Oliver",
    "Mehmet",
    "Min-jun",
    "Tane",
    "Sipho",
    "Oisin",
    "Andrei",
    "Hugo",
)
NEUTRAL_NAMES: tuple[str, ...] = (
    "Alex",
    "Jordan",
    "Sam",
    "Robin",
    "Kai",
    "Noa",
    "Rowan",
    "Avery",
    "Quinn",
    "Charlie",
    "Sasha",
    "Ren",
    "Eden",
    "Taylor",
    "Morgan",
    "Ari",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith",
    "Garcia",
    "Kim",
    "Nguyen",
    "Patel",
    "Müller",
    "Rossi",
    "Dubois",
    "Okafor",
    "Mensah",
    "Tanaka",
    "Sato",
    "Wang",
    "Li",
    "Chen",
    "Singh",
    "Sharma",
    "Iyer",
    "Reddy",
    "Khan",
    "Ali",
    "Hassan",
    "Haddad",
    "Cohen",
    "Levi",
    "Silva",
    "Santos",
    "Oliveira",
    "Costa",
    "Fernandes",
    "Rodriguez",
    "Martinez",
    "Lopez",
    "Hernandez",
    "Gonzalez",
    "Brown",
    "Johnson",
    "Williams",
    "Jones",
    "Taylor",
    "Wilson",
    "Murphy",
    "O'Brien",
    "Kelly",
    "Novak",
    "Kowalski",
    "Nowak",
    "Ivanova",
    "Petrov",
    "Jensen",
    "Larsen",
    "Nielsen",
    "Andersson",
    "Johansson",
    "Virtanen",
    "de Vries",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Martin",
    "Bernard",
    "Moreau",
    "Lefebvre",
    "Yilmaz",
    "Demir",
    "Park",
    "Lee",
    "Choi",
    "Tran",
    "Pham",
    "Wong",
    "Lim",
    "Tan",
    "Goh",
    "Adeyemi",
    "Abubakar",
    "Diallo",
    "Ndlovu",
    "Dlamini",
    "Mwangi",
    "Otieno",
    "Kaur",
    "Das",
    "Bose",
    "Menon",
    "Nair",
    "Fraser",
    "Campbell",
    "Walsh",
    "Byrne",
    "Ramos",
    "Castillo",
    "Vargas",
)

# Bio sentences. {role} is e.g. "a Senior Data Engineer at Nimbus Analytics", {ind} the
# industry phrase, {s1}..{s3} skills, {a1}/{a2} activities, {nouns} a list of interests.
WORK_TEMPLATES: tuple[str, ...] = (
    "I'm {role}, mostly working on {s1} and {s2}.",
    "{years} in {ind}; these days I'm {role}.",
    "Currently {role}, focused on {s1}, {s2} and {s3}.",
    "I work in {ind} as {role}, with a background in {s1}.",
    "Hi! I'm {role} and I care a lot about {s1}.",
)
INTEREST_TEMPLATES: tuple[str, ...] = (
    "Outside work I'm usually {a1} or {a2}.",
    "Weekends are for {a1} and {a2}.",
    "I'm really into {nouns}.",
    "When I'm not working you'll find me {a1}.",
    "Big fan of {nouns}.",
)
GOAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "mentorship": (
        "Always happy to mentor people starting out in {ind}.",
        "Looking to mentor early-stage founders.",
        "I enjoy mentoring and paying it forward.",
    ),
    "find a mentor": (
        "Looking for a mentor who has been there before.",
        "Keen to find a mentor in {ind}.",
    ),
    "find a cofounder": (
        "Looking for a cofounder to build something new with.",
        "Searching for a cofounder who knows {s1}.",
    ),
    "hiring": (
        "We're hiring, so reach out if you're curious.",
        "Building a team and hiring people who love {s1}.",
    ),
    "job seeking": (
        "Open to new roles in {ind}.",
        "Exploring my next opportunity, ideally around {s1}.",
    ),
    "investing": (
        "I angel-invest in early-stage {ind} startups.",
        "Happy to chat with founders looking for investors.",
    ),
    "fundraising": (
        "Currently raising our next round.",
        "Talking to investors who back {ind} companies.",
    ),
    "learning": (
        "Always keen to learn more about {s1}.",
        "Here to learn from people who know {ind} better than I do.",
    ),
    "friendship": (
        "Also just here to meet new people and make friends.",
        "Keen to make friends beyond work.",
    ),
    "partnerships": (
        "Open to partnerships with {ind} teams.",
        "Looking for partners to collaborate with on {s1}.",
    ),
    "collaboration": (
        "Always up for collaborating on side projects.",
        "Love teaming up with people on {s1} projects.",
    ),
}
